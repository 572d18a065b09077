"""The full record of one piece of evidence: statement, certificate, log entry, publisher record.

Why: a security team archiving a verification (or writing a policy) needs every fact, each
labelled with what vouches for it: the DSSE signature vouches for the statement, the Fulcio
chain for the certificate and its extensions, Rekor for the log entry, and nothing for PyPI's
publisher record. `verify --json` reports these records for evidence that passed; `inspect`
prints the same records for evidence it has *not* verified. One builder serves both, so the two
can never disagree on a field's name or meaning.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography import x509
from sigstore.models import Bundle

from dask_kubernetes_release.verify import claims
from dask_kubernetes_release.verify.evidence import Evidence, KeyEnvelope, SignedBundle

SIGNED_STATEMENT = "signed: DSSE signature"
SIGNED_CERTIFICATE = "signed: Fulcio certificate chain"
SIGNED_LOG = "signed: Rekor transparency log"
SIGNED_KEY = "signed: the key given with --key"
UNSIGNED_RECORD = "unsigned: provenance publisher record"

# Fulcio's certificate extensions (OID 1.3.6.1.4.1.57264.1.N), by the names Fulcio documents.
EXTENSION_NAMES = {
    1: "issuer_v1", 2: "github_workflow_trigger", 3: "github_workflow_sha",
    4: "github_workflow_name", 5: "github_workflow_repository", 6: "github_workflow_ref",
    8: "issuer", 9: "build_signer_uri", 10: "build_signer_digest", 11: "runner_environment",
    12: "source_repository_uri", 13: "source_repository_digest", 14: "source_repository_ref",
    15: "source_repository_identifier", 16: "source_repository_owner_uri",
    17: "source_repository_owner_identifier", 18: "build_config_uri", 19: "build_config_digest",
    20: "build_trigger", 21: "run_invocation_uri", 22: "source_repository_visibility_at_signing",
}  # fmt: skip
_RAW_TEXT = {1, 2, 3, 4, 5, 6}  # the legacy extensions hold raw UTF-8, not DER


def statement_summary(payload: bytes) -> dict[str, Any]:
    """The in-toto statement's type, predicate type and subjects (never its whole predicate)."""
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        return {"type": None, "predicate_type": None, "subject": [], "unparsed": True}
    if not isinstance(doc, dict):
        return {"type": None, "predicate_type": None, "subject": [], "unparsed": True}
    subjects = doc.get("subject")
    subjects = subjects if isinstance(subjects, list) else []
    return {
        "type": doc.get("_type"),
        "predicate_type": doc.get("predicateType"),
        "subject": [
            {"name": s.get("name"), "digest": s.get("digest")}
            for s in subjects
            if isinstance(s, dict)
        ],
    }


def _extension_value(cert: x509.Certificate, number: int) -> str | None:
    oid = x509.ObjectIdentifier(f"1.3.6.1.4.1.57264.1.{number}")
    if number in _RAW_TEXT:
        try:
            ext = cert.extensions.get_extension_for_oid(oid)
        except x509.ExtensionNotFound:
            return None
        return ext.value.public_bytes().decode("utf-8", "replace")
    return claims.extension_text(cert, oid)


def certificate_record(cert: x509.Certificate) -> dict[str, Any]:
    """The signing certificate's identity, validity and every Sigstore extension it carries."""
    extensions = {}
    for number, name in EXTENSION_NAMES.items():
        value = _extension_value(cert, number)
        if value is not None:
            extensions[name] = {"oid": f"1.3.6.1.4.1.57264.1.{number}", "value": value}
    return {
        "identities": claims.subject_identities(cert),
        "issuer": (extensions.get("issuer") or extensions.get("issuer_v1") or {}).get("value"),
        "serial_number": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "extensions": extensions,
    }


def log_record(bundle: Bundle) -> dict[str, Any]:
    """The Rekor entry: where it is, when it was integrated, which proofs the bundle carries."""
    entry = bundle.log_entry._inner  # sigstore exposes no public accessor for these
    proof = entry.inclusion_proof
    return {
        "log_index": entry.log_index,
        "log_id": entry.log_id.key_id.hex(),
        "kind": entry.kind_version.kind,
        "kind_version": entry.kind_version.version,
        "integrated_time": entry.integrated_time or None,
        "inclusion_proof": None
        if proof is None
        else {
            "log_index": proof.log_index,
            "tree_size": proof.tree_size,
            "root_hash": base64.b64decode(proof.root_hash).hex()
            if isinstance(proof.root_hash, str)
            else bytes(proof.root_hash).hex(),
        },
        "signed_entry_timestamp": entry.inclusion_promise is not None,
    }


def _publisher(item: SignedBundle) -> dict[str, Any] | None:
    if item.publisher is None:
        return None
    return dict(item.publisher.model_dump(mode="json", exclude_none=True))


def evidence_record(item: Evidence) -> dict[str, Any]:
    """One record per signed envelope, each part labelled with what vouches for it."""
    if isinstance(item, KeyEnvelope):
        return {
            "evidence": item.source.name,
            "kind": "key",
            "statement": statement_summary(item.envelope.payload),
            "key_ids": sorted(item.envelope.signatures),
            "sources": {"statement": SIGNED_KEY},
        }
    bundle = item.bundle
    envelope = bundle._dsse_envelope  # the statement a DSSE bundle signs
    payload = envelope._inner.payload if envelope is not None else b""
    return {
        "evidence": item.source.name,
        "kind": "sigstore",
        "statement": statement_summary(payload),
        "certificate": certificate_record(bundle.signing_certificate),
        "transparency_log": log_record(bundle),
        "publisher_record": _publisher(item),
        "sources": {
            "statement": SIGNED_STATEMENT,
            "certificate": SIGNED_CERTIFICATE,
            "transparency_log": SIGNED_LOG,
            "publisher_record": UNSIGNED_RECORD,
        },
    }
