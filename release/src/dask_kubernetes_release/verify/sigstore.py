"""Verify one Sigstore-signed statement against a file: signature, chain, log, policy, subject.

Why: sigstore-python does the cryptography (certificate chain to the bundled Fulcio roots,
SCT, Rekor inclusion proof and promise, DSSE signature, log-entry consistency); this module
adds PyPI's rules on top and turns failures into plain reasons.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from pydantic import ValidationError
from pypi_attestations import GitHubPublisher, GitLabPublisher
from sigstore.errors import Error as SigstoreError
from sigstore.verify import Verifier
from sigstore.verify import policy as sigstore_policy

from dask_kubernetes_release.core.errors import CheckFailed
from dask_kubernetes_release.verify.claims import SignerFacts
from dask_kubernetes_release.verify.evidence import SignedBundle
from dask_kubernetes_release.verify.policy import Policy, PublisherPolicy
from dask_kubernetes_release.verify.statement import check_statement

# First match wins: a log entry's own bad signature (its checkpoint's) is the log's, not the
# statement's.
_PLAIN_REASONS = {
    "invalid log entry": "the transparency-log entry does not verify",
    "invalid signature": "the signature does not match the signed statement",
    "failed to build timestamp certificate chain": (
        "the signing certificate does not chain to Sigstore's root of trust"
    ),
    "failed to verify SCT": "the certificate's timestamp (SCT) does not verify",
    "Signature mismatch": "the transparency-log entry records a different signature",
    "Envelope signature mismatch": "the transparency-log entry records a different signature",
    "payload hash mismatch": "the transparency-log entry records a different statement",
}


def _plain(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for needle, reason in _PLAIN_REASONS.items():
        if needle.lower() in text.lower():
            return f"{reason} ({text})"
    return text


def _publisher_record_policy(evidence: SignedBundle) -> sigstore_policy.VerificationPolicy | None:
    """PyPI's own publisher record must agree with the certificate too (like PyPI checks)."""
    publisher = evidence.publisher
    try:
        if isinstance(publisher, GitHubPublisher):
            return PublisherPolicy(
                repository=publisher.repository, workflow=publisher.workflow
            ).sigstore_policy()
        if isinstance(publisher, GitLabPublisher):
            return PublisherPolicy(
                repository=publisher.repository,
                workflow=publisher.workflow_filepath,
                forge="gitlab",
            ).sigstore_policy()
    except ValidationError:
        named = getattr(publisher, "repository", None)
        raise CheckFailed(
            f"PyPI's publisher record names no usable repository ({named!r})"
        ) from None
    return None


class _AnySigner:
    """Accepts every certificate: used only to ask which Sigstore instance a bundle is from."""

    def verify(self, cert: x509.Certificate) -> None:
        return None


def _other_instance(evidence: SignedBundle, other: tuple[Verifier, str] | None) -> str | None:
    """When a bundle fails under one Sigstore instance, does it verify under the other one?
    Then the reason is that hint, not a cryptographic error message."""
    if other is None:
        return None
    verifier, hint = other
    try:
        verifier.verify_dsse(evidence.bundle, _AnySigner())
    except (SigstoreError, x509.ExtensionNotFound, ValueError):
        return None
    return hint


def verify_signed_bundle(
    verifier: Verifier,
    evidence: SignedBundle,
    policy: Policy,
    filename: str,
    sha256: str,
    *,
    other: tuple[Verifier, str] | None = None,
) -> tuple[SignerFacts, dict[str, Any]]:
    """Return who signed and the verified statement, or raise CheckFailed in plain words.

    `other` is the other Sigstore instance's verifier and what to say if it accepts the
    bundle (signed on staging, checked against production, or the reverse)."""
    checks = [policy.sigstore_policy()]
    record = _publisher_record_policy(evidence)
    if record is not None:
        checks.append(record)
    try:
        payload_type, payload = verifier.verify_dsse(evidence.bundle, sigstore_policy.AllOf(checks))
    except (SigstoreError, x509.ExtensionNotFound, ValueError) as exc:
        raise CheckFailed(_other_instance(evidence, other) or _plain(exc)) from None
    statement = check_statement(payload_type, payload, filename, sha256)
    return SignerFacts.from_bundle(evidence.bundle), statement
