"""`release rebuild WHEEL SDIST`: an independent rebuild of our own release, byte for byte.

The real build (the session's `two_builds`) rebuilds identically with the toolchain its
`build-toolchain.json` records; a wheel with one changed file is caught and the member named.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from dask_kubernetes_release.build.rebuild import first_difference
from dask_kubernetes_release.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture
def release_copy(two_builds: tuple[list[Path], list[Path]], tmp_path: Path) -> Path:
    """One build's sdist, wheel and build-toolchain.json in a private directory."""
    sdist, wheel = two_builds[0]
    out = tmp_path / "dist"
    out.mkdir()
    for path in (sdist, wheel, wheel.parent / "build-toolchain.json"):
        shutil.copy2(path, out / path.name)
    return out


def _wheel(directory: Path) -> Path:
    (wheel,) = directory.glob("*.whl")
    return wheel


def test_our_release_rebuilds_byte_identical(
    release_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rebuild", str(release_copy)]) == 0
    out = capsys.readouterr().out
    assert "toolchain: build-toolchain.json (the release's recorded build toolchain)" in out
    assert f"identical: {_wheel(release_copy).name} rebuilt byte for byte" in out


def _change_one_member(wheel: Path, member: str) -> None:
    """Rewrite `wheel` with `member`'s content changed and everything else as it was."""
    changed = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(changed, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info, data + b"# changed\n" if info.filename == member else data)
    changed.replace(wheel)


def test_a_wheel_with_one_changed_file_is_caught(
    release_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = _wheel(release_copy)
    member = "dask_kubernetes/operator/__init__.py"
    _change_one_member(wheel, member)
    # The recorded toolchain no longer describes this wheel: the checkout's lock stands in.
    assert main(["rebuild", str(wheel), *map(str, release_copy.glob("*.tar.gz"))]) == 1
    captured = capsys.readouterr()
    assert "the release recorded no toolchain" in captured.out
    assert captured.err == (
        f"error: {wheel.name}: rebuilt from {next(release_copy.glob('*.tar.gz')).name}, "
        f"differs: {member}: content differs\n"
    )


def test_first_difference_names_missing_and_reordered_members(tmp_path: Path) -> None:
    def wheel(name: str, members: list[tuple[str, bytes]]) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as archive:
            for member, data in members:
                archive.writestr(zipfile.ZipInfo(member, (2026, 1, 1, 0, 0, 0)), data)
        return path

    a = wheel("a.whl", [("x.py", b"1"), ("y.py", b"2")])
    assert first_difference(a, wheel("same.whl", [("x.py", b"1"), ("y.py", b"2")])) == ""
    assert (
        first_difference(a, wheel("b.whl", [("x.py", b"1")])) == "y.py: only in the published wheel"
    )
    assert first_difference(a, wheel("c.whl", [("y.py", b"2"), ("x.py", b"1")])).startswith(
        "x.py: member order or name differs"
    )


def test_rebuild_refuses_unusable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "dask_kubernetes-2026.3.0.tar.gz").write_bytes(b"sdist")
    assert main(["rebuild", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "error: rebuild takes one wheel and one sdist (or a DIR holding exactly those)\n"
    )
