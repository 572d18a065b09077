"""Name and version come from inside the distribution: attacks on `release manifest` by file name.

Each case puts one crafted file beside a good release and expects exit 2, one line on stderr and
nothing written: no manifest.json, SHA256SUMS or requirements.txt to carry a lie onwards.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from dask_kubernetes_release.cli import main
from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.metadata import (
    MAX_METADATA_BYTES,
    MAX_SDIST_BYTES,
    checked_metadata,
)
from dask_kubernetes_release.manifest.command import write_manifest

WHEEL = "dask_kubernetes-2026.3.0-py3-none-any.whl"
SDIST = "dask_kubernetes-2026.3.0.tar.gz"
OUTPUTS = ("manifest.json", "SHA256SUMS", "requirements.txt")
MakeDist = Callable[..., Path]


def refused(directory: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run `release manifest` on `directory`: exit 2, one line, nothing written. The line."""
    assert main(["manifest", str(directory)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert [name for name in OUTPUTS if (directory / name).exists()] == []
    return err


def test_a_real_build_reads_its_own_metadata(built_dir: Path) -> None:
    for path in sorted(built_dir.iterdir()):
        meta = checked_metadata(path)
        assert meta.project == "dask-kubernetes"
        assert path.name.startswith(f"dask_kubernetes-{meta.version}")
    manifest = write_manifest(built_dir)
    assert manifest.project == "dask-kubernetes"


def test_a_wheel_renamed_to_another_version_is_refused(
    fake_release: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Renaming both files keeps the directory one release by name: only the contents tell.
    for name in (WHEEL, SDIST):
        (fake_release / name).rename(fake_release / name.replace("2026.3.0", "2026.4.0"))
    err = refused(fake_release, capsys)
    assert "dask_kubernetes-2026.4.0" in err and "dist-info/METADATA" in err


def test_forged_dist_info_directory_still_meets_the_metadata(
    tmp_path: Path, make_dist: MakeDist, capsys: pytest.CaptureFixture[str]
) -> None:
    # The archive's directory is renamed too; only METADATA still says 2026.3.0.
    make_dist(tmp_path, WHEEL.replace("2026.3.0", "2026.4.0"), version="2026.3.0")
    err = refused(tmp_path, capsys)
    assert "file name says dask-kubernetes 2026.4.0" in err
    assert "says dask-kubernetes 2026.3.0" in err


def test_an_sdist_whose_pkg_info_names_another_project_is_refused(
    tmp_path: Path, make_dist: MakeDist, capsys: pytest.CaptureFixture[str]
) -> None:
    make_dist(tmp_path, WHEEL)
    make_dist(tmp_path, SDIST, name="requests")
    err = refused(tmp_path, capsys)
    assert "PKG-INFO says requests 2026.3.0" in err


@pytest.mark.parametrize(
    "filename",
    [
        "Dask_Kubernetes-2026.3.0-py3-none-any.whl",  # upper case
        "dask.kubernetes-2026.3.0-py3-none-any.whl",  # a dot in the name
        "dask_kubernetes-2026.03.0-py3-none-any.whl",  # version not normalised
        "dask_kubernetes-2026.3.0-py3-none-ANY.whl",  # tag not normalised
        "dask-kubernetes-2026.3.0.tar.gz",  # a hyphen: not PEP 625
        "dask_kubernetes-v2026.3.0.tar.gz",
    ],
)
def test_a_name_that_is_not_normalised_is_refused(
    tmp_path: Path, make_dist: MakeDist, filename: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_dist(tmp_path, filename)
    assert "not a normalised distribution file name" in refused(tmp_path, capsys)


@pytest.mark.parametrize(
    "filename",
    [
        "dask_kubernetes-2026.3.0 --index-url=http:evil.tar.gz",
        "--index-url=http:evil-2026.3.0.tar.gz",
        "dask_kubernetes-2026.3.0\n.tar.gz",
        "dask_kubernetes-2026.3.0\n--index-url=x-py3-none-any.whl",
        "dask_kubernetes-2026.3.0;python_version>'0'.tar.gz",
        "dask;kubernetes-2026.3.0.tar.gz",
        "dask_kubernetes-2026.3.0 -py3-none-any.whl",
    ],
)
def test_a_name_carrying_options_or_line_breaks_is_refused(
    tmp_path: Path, make_dist: MakeDist, filename: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Alone in the directory, so nothing else (a second release) gives it away.
    os.rename(make_dist(tmp_path, "scratch.tar.gz"), tmp_path / filename)
    refused(tmp_path, capsys)


@pytest.mark.parametrize(
    "name", ["dask-kubernetes --index-url=http://evil", "dask-kubernetes;os_name", "-e ."]
)
def test_metadata_carrying_options_is_refused(
    tmp_path: Path, make_dist: MakeDist, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_dist(tmp_path, SDIST, name=name)
    assert "invalid metadata" in refused(tmp_path, capsys)


def test_requirements_hold_only_the_validated_pin_and_hashes(fake_release: Path) -> None:
    write_manifest(fake_release)
    (line,) = (fake_release / "requirements.txt").read_text().splitlines()
    pin, *hashes = line.split(" ")
    assert pin == "dask-kubernetes==2026.3.0"
    assert len(hashes) == 2 and all(re.fullmatch("--hash=sha256:[0-9a-f]{64}", h) for h in hashes)


def test_two_pkg_info_copies_are_refused(
    tmp_path: Path, make_dist: MakeDist, capsys: pytest.CaptureFixture[str]
) -> None:
    sdist = make_dist(tmp_path, SDIST)
    # Append a second PKG-INFO naming another project: extracting it would win.
    with tarfile.open(sdist) as archive:
        members = [(m, archive.extractfile(m)) for m in archive.getmembers()]
        contents = [(m, f.read() if f else b"") for m, f in members]
    forged = b"Metadata-Version: 2.1\nName: evil\nVersion: 2026.3.0\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for member, data in contents:
            archive.addfile(member, io.BytesIO(data))
        info = tarfile.TarInfo("dask_kubernetes-2026.3.0/PKG-INFO")
        info.size = len(forged)
        archive.addfile(info, io.BytesIO(forged))
    sdist.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    assert "expected exactly one dask_kubernetes-2026.3.0/PKG-INFO, found 2" in refused(
        tmp_path, capsys
    )


@pytest.mark.parametrize(
    "member",
    [
        "dask_kubernetes-2026.3.0.dist-info/METADATA.bak",  # no METADATA at all
        "nested/dask_kubernetes-2026.3.0.dist-info/METADATA",  # not at the top
    ],
)
def test_a_wheel_without_its_metadata_is_refused(
    tmp_path: Path, make_dist: MakeDist, member: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_dist(tmp_path, WHEEL, member=member)
    assert "expected exactly dask_kubernetes-2026.3.0.dist-info/METADATA" in refused(
        tmp_path, capsys
    )


def test_garbage_named_like_a_distribution_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / WHEEL).write_bytes(b"PK\x03\x04 not really a zip")
    assert "not a readable wheel" in refused(tmp_path, capsys)
    (tmp_path / WHEEL).unlink()
    (tmp_path / SDIST).write_bytes(gzip.compress(b"not a tar", mtime=0))
    assert "not a readable sdist" in refused(tmp_path, capsys)


class _Zeros(io.RawIOBase):
    """`size` zero bytes, produced on demand (a bomb's payload never sits in memory)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self.left, 1 << 20)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def _peak_while(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(UsageError, match="size limits"):
            action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_zip_bomb_metadata_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    wheel = tmp_path / WHEEL
    size = 64 * MAX_METADATA_BYTES  # 64 MiB of zeros, 64 KiB compressed
    with (
        zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("dask_kubernetes-2026.3.0.dist-info/METADATA", "w") as member,
    ):
        stream = _Zeros(size)
        while chunk := stream.read(1 << 20):
            member.write(chunk)
    assert wheel.stat().st_size < size // 100
    assert _peak_while(lambda: checked_metadata(wheel)) < 4 * MAX_METADATA_BYTES


def test_a_zip_whose_header_understates_the_metadata_size_reads_no_more(tmp_path: Path) -> None:
    wheel = tmp_path / WHEEL
    body = b"Metadata-Version: 2.1\nName: dask-kubernetes\nVersion: 2026.3.0\n"
    body += b"X-Pad: " + bytes(8 * MAX_METADATA_BYTES) + b"\n"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("dask_kubernetes-2026.3.0.dist-info/METADATA", body)
    data = bytearray(wheel.read_bytes())
    # Rewrite the uncompressed size in the local header and the central directory to 100.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(signature) + offset
        data[at : at + 4] = (100).to_bytes(4, "little")
    wheel.write_bytes(bytes(data))
    tracemalloc.start()
    try:
        with pytest.raises(UsageError):
            checked_metadata(wheel)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_METADATA_BYTES


def test_a_gzip_bomb_sdist_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    sdist = tmp_path / SDIST
    size = MAX_SDIST_BYTES + (1 << 20)  # decompresses past the scan limit before PKG-INFO
    with (
        sdist.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out,
        tarfile.open(fileobj=out, mode="w|") as archive,
    ):
        info = tarfile.TarInfo("dask_kubernetes-2026.3.0/huge.bin")
        info.size = size
        archive.addfile(info, _Zeros(size))
    assert sdist.stat().st_size < size // 100
    assert _peak_while(lambda: checked_metadata(sdist)) < 4 * MAX_METADATA_BYTES


def test_an_oversized_pkg_info_is_refused(tmp_path: Path, make_dist: MakeDist) -> None:
    huge = b"Metadata-Version: 2.1\nName: dask-kubernetes\nVersion: 2026.3.0\n\n"
    sdist = make_dist(tmp_path, SDIST, metadata=huge + bytes(MAX_METADATA_BYTES))
    with pytest.raises(UsageError, match="not a small regular file"):
        checked_metadata(sdist)


def test_a_wheel_with_two_metadata_entries_is_refused(
    tmp_path: Path, make_dist: MakeDist, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = make_dist(tmp_path, WHEEL)
    forged = b"Metadata-Version: 2.1\nName: evil\nVersion: 2026.3.0\n"
    with (
        pytest.warns(UserWarning, match="Duplicate name"),
        zipfile.ZipFile(wheel, "a") as archive,
    ):
        archive.writestr("dask_kubernetes-2026.3.0.dist-info/METADATA", forged)
    assert "found dask_kubernetes-2026.3.0.dist-info/METADATA, dask_kubernetes" in refused(
        tmp_path, capsys
    )
