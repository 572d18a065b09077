"""Sign statements keylessly with Sigstore, using the ambient OIDC identity of the CI job.

Why: on GitHub Actions (`permissions: id-token: write`) sigstore-python exchanges the job's
OIDC token for a short-lived Fulcio certificate and logs each signature in Rekor; PyPI
accepts the resulting PEP 740 attestation on upload (`twine upload --attestations`).
`open_signer` is the one boundary that needs the network and an identity. `--trust-config`
names another Sigstore instance (its trusted root and signing config, as `sigstore
--trust-config` takes them): the local instance of tests and the rehearsal
(dask_kubernetes_release.localsigstore), on the same code path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from pypi_attestations import Attestation, AttestationError, Distribution
from requests import RequestException
from sigstore._internal.fulcio.client import FulcioClientError
from sigstore._internal.rekor import RekorClientError
from sigstore.dsse import Statement
from sigstore.errors import Error as SigstoreError
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.oidc import IdentityToken, detect_credential
from sigstore.sign import Signer, SigningContext

from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.files import read_limited
from dask_kubernetes_release.core.statements import encode

# What signing raises when a server refuses or is unreachable: sigstore-python's own error type,
# and its Fulcio and Rekor clients' errors, which are not of that type (a token Fulcio refuses).
SIGNING_ERRORS = (AttestationError, SigstoreError, FulcioClientError, RekorClientError,
                  RequestException)  # fmt: skip


def _reason(exc: BaseException) -> str:
    """One line: the error's text, else what the refusing server said, else its type."""
    response = getattr(exc.__cause__, "response", None)
    text = str(exc) or (getattr(response, "text", "") or "").strip() or type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__


def trust_config(*, staging: bool, path: Path | None = None) -> ClientTrustConfig:
    """The instance to sign with: `path` (a client trust config file), else staging/production."""
    if path is None:
        return ClientTrustConfig.staging() if staging else ClientTrustConfig.production()
    raw = read_limited(path)
    try:
        return ClientTrustConfig.from_json(raw.decode("utf-8"))
    except Exception as exc:  # noqa: BLE001 - any parse failure is unusable input, one line
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{path}: not a usable Sigstore trust config ({reason})") from None


@contextmanager
def open_signer(*, staging: bool, config: Path | None = None) -> Iterator[Signer]:
    """A Sigstore signer for the ambient identity (GitHub Actions' id-token), on the public
    instance (or staging), or on the instance `config` describes."""
    client_config = trust_config(staging=staging, path=config) if config else None
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
        context = SigningContext.from_trust_config(client_config or trust_config(staging=staging))
        with context.signer(IdentityToken(token)) as signer:
            yield signer
    except SIGNING_ERRORS as exc:
        raise CheckFailed(f"Sigstore signing failed: {_reason(exc)}") from None


class _KeepBundles:
    """The signer, keeping each bundle it signs: PEP 740's attestation object cannot hold a
    bundle's RFC 3161 timestamps, so the `.intoto.jsonl` line is the bundle as signed."""

    def __init__(self, signer: Signer) -> None:
        self._signer = signer
        self.bundles: list[Bundle] = []

    def sign_dsse(self, statement: Statement) -> Bundle:
        bundle = self._signer.sign_dsse(statement)
        self.bundles.append(bundle)
        return bundle


def _pep740_carries(publish: Attestation) -> bool:
    """Whether the PEP 740 object still verifies on its own: a Rekor v2 entry has no signed
    time of its own and PEP 740 has no field for the TSA's (pypi-attestations issue #142)."""
    try:
        publish.to_bundle()
    except (AttestationError, SigstoreError, ValueError):
        return False
    return True


def sign_distribution(
    signer: Signer,
    filename: str,
    sha256: str,
    slsa_statement: dict[str, Any],
    extra_statements: Sequence[dict[str, Any]] = (),
) -> tuple[bytes, bytes | None]:
    """(`.intoto.jsonl` of Sigstore bundles, the PEP 740 `.publish.attestation` JSON, or None
    when PEP 740 cannot carry what the bundle needs to verify: see `_pep740_carries`)."""
    keeper = _KeepBundles(signer)
    try:
        publish = Attestation.sign(cast(Signer, keeper), Distribution(name=filename, digest=sha256))
        slsa: Bundle = signer.sign_dsse(Statement(encode(slsa_statement)))
        extra = [signer.sign_dsse(Statement(encode(doc))) for doc in extra_statements]
        lines = [keeper.bundles[-1].to_json(), slsa.to_json(), *(b.to_json() for b in extra)]
    except SIGNING_ERRORS as exc:
        raise CheckFailed(f"{filename}: Sigstore signing failed ({_reason(exc)})") from None
    jsonl = "".join(line.replace("\n", "") + "\n" for line in lines)
    pep740 = publish.model_dump_json().encode() if _pep740_carries(publish) else None
    return jsonl.encode(), pep740


def sign_statements(signer: Signer, *statements: dict[str, Any]) -> bytes:
    """`.intoto.jsonl` of one Sigstore DSSE bundle per statement (a file PyPI never sees)."""
    try:
        bundles = [signer.sign_dsse(Statement(encode(item))).to_json() for item in statements]
    except SIGNING_ERRORS as exc:
        raise CheckFailed(f"Sigstore signing failed ({_reason(exc)})") from None
    return "".join(line.replace("\n", "") + "\n" for line in bundles).encode()
