"""Verify our key-signed DSSE envelopes (`release attest --key`) against a file.

Why: offline rehearsals and tests sign with a local key instead of Sigstore; the same
statement checks apply, and the build facts come from the signed SLSA provenance: the policy
holds them to every field it names, and refuses a field the statement does not carry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.exceptions import Error as SslibError
from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]  # not in __all__
from sigstore.errors import Error as SigstoreError

from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.files import read_limited
from dask_kubernetes_release.core.lockfiles import lock_kind
from dask_kubernetes_release.core.statements import PYPI_PUBLISH, SLSA_PROVENANCE
from dask_kubernetes_release.verify.claims import FROM_STATEMENT, SignerFacts
from dask_kubernetes_release.verify.evidence import KeyEnvelope
from dask_kubernetes_release.verify.policy import Policy
from dask_kubernetes_release.verify.statement import check_statement


def load_public_key(path: Path) -> SSlibKey:
    """A PEM public key as written by `release keygen` (ECDSA P-256 or Ed25519)."""
    try:
        return SSlibKey.from_crypto(load_pem_public_key(read_limited(path)))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise UsageError(f"{path}: not a usable PEM public key ({exc})") from None


def _get(doc: Any, *keys: str) -> Any:
    for key in keys:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def _owner_name(uri: str) -> str | None:
    """`https://github.com/o/n` -> `o/n`; a local `file://` checkout stays as it is."""
    if uri.startswith("https://"):
        return uri.removeprefix("https://").split("/", 1)[-1]
    return uri or None


def _text(value: Any) -> str | None:
    """A fact as the statement gives it; absent, empty and non-text values are unknown."""
    return value if isinstance(value, str) and value else None


def facts_from_slsa(statement: dict[str, Any], key_id: str) -> SignerFacts:
    """Where the build ran, as the signed SLSA provenance states it."""
    build = _get(statement, "predicate", "buildDefinition")
    workflow = _get(build, "externalParameters", "workflow")
    workflow = workflow if isinstance(workflow, dict) else {}
    repository_uri = _text(workflow.get("repository")) or ""
    path = _text(workflow.get("path"))
    dependencies = _get(build, "resolvedDependencies")
    source = dependencies[0] if isinstance(dependencies, list) and dependencies else {}
    internal = _get(build, "internalParameters", "github")
    internal = internal if isinstance(internal, dict) else {}
    return SignerFacts(
        identity=str(_get(statement, "predicate", "runDetails", "builder", "id") or ""),
        token_issuer=None,
        repository=_owner_name(repository_uri),
        repository_uri=repository_uri or None,
        owner=repository_uri.rsplit("/", 1)[0] if repository_uri else None,
        repository_id=_text(internal.get("github_repository_id")),
        owner_id=_text(internal.get("github_repository_owner_id")),
        repository_access=None,
        runner_environment=_text(internal.get("runner_environment")),
        workflow=path.removeprefix(".github/workflows/") if path else None,
        workflow_path=path,
        commit=_text(_get(source, "digest", "gitCommit")),
        source_commit=_text(_get(source, "digest", "gitCommit")),
        ref=_text(workflow.get("ref")),
        trigger_event=_text(internal.get("event_name")),
        key_id=key_id,
        source=FROM_STATEMENT,
    )


def verify_key_envelopes(
    key: SSlibKey, envelopes: list[KeyEnvelope], policy: Policy | None, filename: str, sha256: str
) -> tuple[SignerFacts, list[dict[str, Any]]]:
    """Every envelope must verify; together they must hold a publish and a SLSA statement
    (a lock file: a SLSA statement).
    Returns who signed and the verified statements, one per predicate type."""
    by_type: dict[str, dict[str, Any]] = {}
    for evidence in envelopes:
        try:
            evidence.envelope.verify([key], 1)
        except (SslibError, ValueError) as exc:
            raise CheckFailed(
                f"{evidence.source.name} is not validly signed by key {key.keyid[:16]}"
                f" ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
            ) from None
        doc = check_statement(
            evidence.envelope.payload_type, evidence.envelope.payload, filename, sha256
        )
        by_type[str(doc["predicateType"])] = doc
    # A lock file is never published to PyPI: only its SLSA statement is required.
    required = {SLSA_PROVENANCE} if lock_kind(filename) else {PYPI_PUBLISH, SLSA_PROVENANCE}
    missing = required - by_type.keys()
    if missing:
        raise CheckFailed(f"no signed statement of type {', '.join(sorted(missing))}")
    facts = facts_from_slsa(by_type[SLSA_PROVENANCE], key.keyid)
    if policy is not None:
        try:
            policy.check_facts(facts)
        except SigstoreError as exc:
            raise CheckFailed(str(exc)) from None
    return facts, [by_type[kind] for kind in sorted(by_type)]
