"""Write a local signing key pair: PATH (private, PEM PKCS#8, mode 0600) and PATH.pub.

The key signs `release attest DIR --key PATH` statements when Sigstore is not available
(offline rehearsals, tests); `release verify DIST --key PATH.pub` checks them. Release
artefacts on PyPI are signed keylessly with Sigstore instead (`release attest --sigstore`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)
from securesystemslib.signer import CryptoSigner  # type: ignore[attr-defined]  # not in __all__

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.files import PRIVATE, PUBLIC, write_atomically


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="PATH", help="private key file to create")
    parser.add_argument(
        "--type", choices=("ecdsa", "ed25519"), default="ecdsa", help="ECDSA P-256 (default)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing key pair")


def public_path(private: Path) -> Path:
    return private.with_name(private.name + ".pub")


def generate(private: Path, *, kind: str = "ecdsa", force: bool = False) -> Path:
    """Write a key pair (private 0600, public beside it); returns the public key's path."""
    public = public_path(private)
    if not private.parent.is_dir():
        raise UsageError(f"{private.parent}: no such directory")
    if not force and (private.exists() or public.exists()):
        raise UsageError(f"{private}: a key already exists there (use --force to replace it)")
    make = CryptoSigner.generate_ed25519 if kind == "ed25519" else CryptoSigner.generate_ecdsa
    signer = make()
    pem: bytes = signer.private_bytes
    public_pem = (
        load_pem_private_key(pem, password=None)
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    write_atomically(private, pem, mode=PRIVATE)
    write_atomically(public, public_pem, mode=PUBLIC)
    print(f"wrote {private} (private, 0600) and {public}; key id {signer.public_key.keyid}")
    return public


def run(args: argparse.Namespace) -> int:
    generate(args.path, kind=args.type, force=args.force)
    return 0
