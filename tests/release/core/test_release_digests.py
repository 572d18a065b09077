"""The three digests equal independent computations: coreutils, and PyPI's own records."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dask_kubernetes_release.cli import main
from dask_kubernetes_release.core import digests as _digests
from dask_kubernetes_release.core.digests import CHUNK_SIZE, digest_file, digest_stream

MIB = 1024 * 1024
SIZES = [0, 1, 4096, CHUNK_SIZE - 1, CHUNK_SIZE, 2 * CHUNK_SIZE + 1, 9 * MIB + 7]


def coreutils(path: Path) -> dict[str, str]:
    def first_field(*cmd: str) -> str:
        out = subprocess.run([*cmd, str(path)], check=True, capture_output=True, text=True)
        return out.stdout.split()[0]

    return {
        "sha256": first_field("sha256sum"),
        "md5": first_field("md5sum"),
        "blake2b_256": first_field("b2sum", "-l", "256"),
    }


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = tmp_path_factory.mktemp("digests")
    paths = []
    for size in SIZES:
        path = base / f"sample-{size}.bin"
        path.write_bytes(os.urandom(size))
        paths.append(path)
    return paths


def test_digests_equal_coreutils_for_empty_small_and_multi_mib_files(
    sample_files: list[Path],
) -> None:
    for path in sample_files:
        digests = digest_file(path)
        assert digests.size == path.stat().st_size
        expected = coreutils(path)
        assert (digests.sha256, digests.md5, digests.blake2b_256) == (
            expected["sha256"],
            expected["md5"],
            expected["blake2b_256"],
        ), path.name


def test_manifest_json_cli_prints_coreutils_digests(
    sample_files: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    chosen = [sample_files[0], sample_files[-1]]
    assert main(["manifest", "--json", *map(str, chosen)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["version"] == 1
    for record, path in zip(document["files"], chosen, strict=True):
        assert record["filename"] == path.name
        assert record["size"] == path.stat().st_size
        assert record["python_tag"] is None  # not a distribution
        assert {k: record[k] for k in ("sha256", "md5", "blake2b_256")} == coreutils(path)


def test_sha256_equals_what_pypi_signed_for_real_distributions(
    attestation_fixtures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The PEP 740 statements PyPI holds name each file's sha256: ours must be the same."""
    checked = 0
    for attestation in sorted(attestation_fixtures.glob("*.publish.attestation")):
        dist = attestation_fixtures / attestation.name.removesuffix(".publish.attestation")
        envelope = json.loads(attestation.read_text())["envelope"]
        statement = json.loads(base64.b64decode(envelope["statement"]))
        (subject,) = statement["subject"]
        assert subject["name"] == dist.name
        assert digest_file(dist).sha256 == subject["digest"]["sha256"]
        assert main(["manifest", "--json", str(dist)]) == 0
        (record,) = json.loads(capsys.readouterr().out)["files"]
        assert record["sha256"] == subject["digest"]["sha256"]
        assert record["python_tag"] in {"source", "py3"}
        checked += 1
    assert checked >= 3


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=50_000), chunk=st.integers(min_value=1, max_value=9_000))
def test_threaded_and_inline_paths_agree_with_hashlib(data: bytes, chunk: int) -> None:
    original = _digests.CHUNK_SIZE
    _digests.CHUNK_SIZE = chunk  # many chunk boundaries, both code paths
    try:
        threaded = digest_stream(io.BytesIO(data))
        inline = digest_stream(io.BytesIO(data), size_hint=0)
    finally:
        _digests.CHUNK_SIZE = original
    expected = (
        len(data),
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data).hexdigest(),
        hashlib.blake2b(data, digest_size=32).hexdigest(),
    )
    for result in (threaded, inline):
        assert (result.size, result.sha256, result.md5, result.blake2b_256) == expected
