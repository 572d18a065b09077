"""Sign statements as DSSE envelopes with a local key (securesystemslib does the crypto).

Why: offline rehearsals and tests need real signatures without Sigstore's servers; the
envelopes are standard DSSE, so any in-toto verifier can check them with `PATH.pub`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner  # type: ignore[attr-defined]  # not in __all__

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.files import read_limited
from dask_kubernetes_release.core.statements import PAYLOAD_TYPE, encode


def load_signer(path: Path) -> CryptoSigner:
    """The private key written by `release keygen` (PEM PKCS#8, unencrypted)."""
    try:
        return CryptoSigner(load_pem_private_key(read_limited(path), password=None))
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{path}: not a usable PEM private key ({exc})") from None


def envelope_lines(signer: CryptoSigner, statements: list[dict[str, Any]]) -> bytes:
    """One signed DSSE envelope per statement, as JSON lines."""
    lines = []
    for doc in statements:
        envelope = Envelope(payload=encode(doc), payload_type=PAYLOAD_TYPE, signatures={})
        envelope.sign(signer)
        lines.append(json.dumps(envelope.to_dict(), sort_keys=True))
    return ("\n".join(lines) + "\n").encode()
