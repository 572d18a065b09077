"""`verify` computes only the digest attestations name (sha256): no md5 or BLAKE2b pass.

Why it matters: verify runs on every downloaded file, some large; the three-digest pass
(`digest_file`) is for the manifest, which shows what PyPI shows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dask_kubernetes_release.core import digests

SIGSTORE = "sigstore-3.6.1.tar.gz"


def test_sha256_file_is_the_sha256(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"x" * (digests.CHUNK_SIZE * 2 + 7))
    assert digests.sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_verify_hashes_sha256_only(
    release: Callable[..., Any], attestation_fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("verify computed more digests than sha256")

    monkeypatch.setattr(digests, "digest_stream", forbidden)
    for name in ("md5", "blake2b_256"):
        monkeypatch.setitem(digests.ALGORITHMS, name, forbidden)
    asked: list[Path] = []
    real = digests.sha256_file

    def counting(path: Path) -> str:
        asked.append(Path(path))
        return real(path)

    monkeypatch.setattr("dask_kubernetes_release.verify.run.sha256_file", counting)
    dist = attestation_fixtures / SIGSTORE
    result = release(
        "verify", dist, "--provenance", attestation_fixtures / f"{SIGSTORE}.provenance",
        "--repository", "sigstore/sigstore-python", "--workflow", "release.yml",
        "--ref", "refs/tags/*",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert asked == [dist]
