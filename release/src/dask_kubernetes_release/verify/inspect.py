"""Show what an attestation, provenance or `.intoto.jsonl` bundle CLAIMS, without verifying it.

Why: to write a policy (`verify --repository ... --workflow ... --ref ...`) a security team first
needs to see who a release's evidence names: identity, repository, workflow, ref, commit,
trigger, log index, statement types. `inspect` reads exactly that and prints it, with the
policy options that would match. It checks NOTHING: no signature, no certificate chain, no log
entry, no file digest; anyone can write these fields. Run `verify` to check them.

  inspect FILE.provenance | FILE.publish.attestation | FILE.intoto.jsonl | DIST  [--json]

  Given a distribution (or chart) file, inspect reads the evidence beside it
  (<file>.provenance, .publish.attestation, .slsa.attestation, .intoto.jsonl).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.printable import printable

if TYPE_CHECKING:  # imported by the functions that need them: `inspect --help` stays instant
    from dask_kubernetes_release.verify.claims import SignerFacts
    from dask_kubernetes_release.verify.evidence import Evidence

NOTICE = (
    "NOT VERIFIED: inspect shows what the evidence claims and checks nothing (no signature, "
    "no certificate chain, no transparency log, no file digest). Run `verify` to check it."
)
SCHEMA_VERSION = 1


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="FILE-or-EVIDENCE", type=Path,
        help="evidence files, or distributions with their evidence beside them",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _load(path: Path) -> list[Evidence]:
    from dask_kubernetes_release.core.dists import chart_version_of, is_distribution_name
    from dask_kubernetes_release.verify import evidence as evidence_files

    if is_distribution_name(path.name) or chart_version_of(path.name) is not None:
        found: list[Evidence] = []
        for suffix in evidence_files.BESIDE_SUFFIXES:
            candidate = Path(f"{path}{suffix}")
            if candidate.is_file():
                found += evidence_files.load_any(candidate)
        if not found:
            raise UsageError(f"{path}: no evidence beside it (looked for <file>.provenance, ...)")
        return found
    return evidence_files.load_any(path)


def _claims(item: Evidence) -> SignerFacts | None:
    """Who the evidence says signed, read without checking anything."""
    from dask_kubernetes_release.core.statements import SLSA_PROVENANCE
    from dask_kubernetes_release.verify.claims import SignerFacts
    from dask_kubernetes_release.verify.evidence import SignedBundle
    from dask_kubernetes_release.verify.key import facts_from_slsa

    if isinstance(item, SignedBundle):
        return SignerFacts.from_bundle(item.bundle)
    try:
        doc = json.loads(item.envelope.payload)
    except (ValueError, RecursionError):
        return None
    if isinstance(doc, dict) and doc.get("predicateType") == SLSA_PROVENANCE:
        key_ids = sorted(item.envelope.signatures) or ["(none)"]
        return facts_from_slsa(doc, ", ".join(key_ids))
    return None


def _policy_options(facts: SignerFacts, instance: str | None = "production") -> str | None:
    """The `verify` options that these claims would satisfy (a starting point for a policy);
    `instance`: the Sigstore instance the log entry names (None: neither bundled one)."""
    options = _signer_options(facts)
    if options is None or facts.key_id is not None or instance == "production":
        return options
    trust = "--staging" if instance == "staging" else "--trusted-root TRUSTED_ROOT.json"
    return f"{options} {trust}"


def _signer_options(facts: SignerFacts) -> str | None:
    key = ["--key", "PUB"] if facts.key_id is not None else []
    forge = (facts.repository_uri or "").startswith(("https://github.com/", "https://gitlab.com/"))
    if not facts.repository or not facts.workflow or (key and not forge):
        if facts.identity and not key:
            return f"--identity {shlex.quote(facts.identity)}"
        return shlex.join(key) if key else None
    repository = facts.repository
    if facts.repository_uri and facts.repository_uri.startswith("https://gitlab.com/"):
        repository = facts.repository_uri
    options = [*key, "--repository", repository, "--workflow", facts.workflow]
    for option, value in (
        ("--ref", facts.ref), ("--trigger", facts.trigger_event),
        ("--repository-id", facts.repository_id), ("--owner-id", facts.owner_id),
        ("--source-digest", facts.source_commit),
    ):  # fmt: skip
        if value:
            options += [option, value]
    return shlex.join(options)


def _record(item: Evidence) -> dict[str, Any]:
    from dask_kubernetes_release.verify.record import evidence_record
    from dask_kubernetes_release.verify.trust import instance_of

    record = evidence_record(item)
    facts = _claims(item)
    log = record.get("transparency_log")
    instance = instance_of(str(log["log_id"])) if isinstance(log, dict) else None
    if isinstance(log, dict):  # Sigstore evidence: name the instance it claims
        record["sigstore_instance"] = instance
    record["claims"] = {name: value for name, value, _source in facts.sourced()} if facts else None
    record["policy_options"] = _policy_options(facts, instance) if facts else None
    return record


def _instance_text(instance: str | None) -> str:
    if instance is None:
        return "an unknown Sigstore instance (neither bundled one): verify needs its --trusted-root"
    if instance == "staging":
        return "Sigstore's staging instance (by its log entry): verify needs --staging"
    return "Sigstore's production instance (by its log entry)"


def _text(path: Path, records: list[dict[str, Any]]) -> list[str]:
    lines = [f"{path}: {len(records)} signed envelope(s), NOT VERIFIED"]
    for record in records:
        statement = record["statement"]
        lines.append(f"  {record['evidence']} ({record['kind']})")
        lines.append(f"    predicate type: {statement['predicate_type']}")
        for subject in statement["subject"]:
            digest = subject.get("digest") or {}
            lines.append(f"    subject: {subject.get('name')} sha256:{digest.get('sha256')}")
        for name, value in (record.get("claims") or {}).items():
            lines.append(f"    {name}: {value}")
        if "sigstore_instance" in record:
            lines.append(f"    signed on: {_instance_text(record['sigstore_instance'])}")
        publisher = record.get("publisher_record")
        if publisher:
            shown = ", ".join(f"{k}={v}" for k, v in publisher.items())
            lines.append(f"    publisher record (unsigned): {shown}")
        if record.get("policy_options"):
            lines.append(f"    a policy these claims match: verify FILE {record['policy_options']}")
    return lines


def run(args: argparse.Namespace) -> int:
    documents = [(path, [_record(item) for item in _load(path)]) for path in args.paths]
    if args.json:
        report = {
            "schema_version": SCHEMA_VERSION,
            "verified": False,
            "notice": NOTICE,
            "inputs": [{"path": str(path), "evidence": records} for path, records in documents],
        }
        print(json.dumps(report, indent=2))
    else:
        print(NOTICE)
        for path, records in documents:
            print("\n".join(printable(line) for line in _text(path, records)))
    sys.stdout.flush()
    return 0
