"""Sigstore verifiers built from the trust root bundled inside sigstore-python.

Why: `Verifier.production(offline=True)` reads a per-user TUF cache (and writes one on first
use), so its answer depends on the machine's history. Loading the copy shipped in the
installed `sigstore` wheel makes verification work on a fresh machine with no network and no
writable home directory, and gives the same answer everywhere.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from sigstore.models import TrustedRoot
from sigstore.verify import Verifier
from sigstore_models.trustroot.v1 import TrustedRoot as _TrustedRootMessage

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.files import read_limited

PRODUCTION_TUF_URL = "https://tuf-repo-cdn.sigstore.dev"
STAGING_TUF_URL = "https://tuf-repo-cdn.sigstage.dev"


def _bundled_trusted_root(tuf_url: str) -> TrustedRoot:
    directory = tuf_url.replace(":", "%3A").replace("/", "%2F")
    raw = (
        resources.files("sigstore._store")
        .joinpath(directory)
        .joinpath("trusted_root.json")
        .read_bytes()
    )
    return TrustedRoot(_TrustedRootMessage.from_json(raw))


@cache
def bundled_verifier(*, staging: bool) -> Verifier:
    """One verifier per Sigstore instance per process: the trust root is parsed once."""
    url = STAGING_TUF_URL if staging else PRODUCTION_TUF_URL
    return Verifier(trusted_root=_bundled_trusted_root(url))


@cache
def _log_ids(tuf_url: str) -> frozenset[str]:
    return frozenset(t.log_id.key_id.hex() for t in _bundled_trusted_root(tuf_url)._inner.tlogs)


def instance_of(log_id: str) -> str | None:
    """The bundled Sigstore instance whose transparency log has this ID (hex): "production",
    "staging", or None for neither. It names what a log entry claims (for `inspect` to suggest
    --staging); only verification proves the entry is in that log."""
    for name, url in (("production", PRODUCTION_TUF_URL), ("staging", STAGING_TUF_URL)):
        if log_id in _log_ids(url):
            return name
    return None


def verifier_from_file(path: Path) -> Verifier:
    """`--trusted-root FILE`: a trusted_root.json of your own (a private Sigstore instance, or a
    pinned copy of the public one), used instead of the bundled one."""
    raw = read_limited(path)
    try:
        return Verifier(trusted_root=TrustedRoot(_TrustedRootMessage.from_json(raw)))
    except Exception as exc:  # noqa: BLE001 - any parse failure is unusable input, one line
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{path}: not a usable Sigstore trusted root ({reason})") from None
