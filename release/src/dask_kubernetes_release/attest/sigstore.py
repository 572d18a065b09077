"""Sign statements keylessly with Sigstore, using the ambient OIDC identity of the CI job.

Why: on GitHub Actions (`permissions: id-token: write`) sigstore-python exchanges the job's
OIDC token for a short-lived Fulcio certificate and logs each signature in Rekor; PyPI
accepts the resulting PEP 740 attestation on upload (`twine upload --attestations`).
`open_signer` is the one boundary that needs the network and an identity.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pypi_attestations import Attestation, AttestationError, Distribution
from sigstore.dsse import Statement
from sigstore.errors import Error as SigstoreError
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.oidc import IdentityToken, detect_credential
from sigstore.sign import Signer, SigningContext

from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.statements import encode


@contextmanager
def open_signer(*, staging: bool) -> Iterator[Signer]:
    """A Sigstore signer for the ambient identity (GitHub Actions' id-token)."""
    try:
        token = detect_credential()
    except SigstoreError as exc:
        raise UsageError(f"--sigstore: no usable ambient OIDC identity ({exc})") from None
    if token is None:
        raise UsageError(
            "--sigstore: no ambient OIDC identity (run in GitHub Actions with "
            "`permissions: id-token: write`)"
        )
    try:
        config = ClientTrustConfig.staging() if staging else ClientTrustConfig.production()
        context = SigningContext.from_trust_config(config)
        with context.signer(IdentityToken(token)) as signer:
            yield signer
    except SigstoreError as exc:
        raise CheckFailed(f"Sigstore signing failed: {exc}") from None


def sign_distribution(
    signer: Signer,
    filename: str,
    sha256: str,
    slsa_statement: dict[str, Any],
    extra_statements: Sequence[dict[str, Any]] = (),
) -> tuple[bytes, bytes]:
    """(`.intoto.jsonl` of Sigstore bundles, the PEP 740 `.publish.attestation` JSON)."""
    try:
        publish = Attestation.sign(signer, Distribution(name=filename, digest=sha256))
        slsa: Bundle = signer.sign_dsse(Statement(encode(slsa_statement)))
        extra = [signer.sign_dsse(Statement(encode(doc))) for doc in extra_statements]
        lines = [publish.to_bundle().to_json(), slsa.to_json(), *(b.to_json() for b in extra)]
    except (AttestationError, SigstoreError) as exc:
        raise CheckFailed(f"{filename}: Sigstore signing failed ({exc})") from None
    jsonl = "".join(line.replace("\n", "") + "\n" for line in lines)
    return jsonl.encode(), publish.model_dump_json().encode()


def sign_statements(signer: Signer, *statements: dict[str, Any]) -> bytes:
    """`.intoto.jsonl` of one Sigstore DSSE bundle per statement (a file PyPI never sees)."""
    try:
        bundles = [signer.sign_dsse(Statement(encode(item))).to_json() for item in statements]
    except SigstoreError as exc:
        raise CheckFailed(f"Sigstore signing failed ({exc})") from None
    return "".join(line.replace("\n", "") + "\n" for line in bundles).encode()
