"""`release manifest DIR`: manifest.json, SHA256SUMS, requirements.txt and PyPI's table."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dask_kubernetes_release.cli import main
from dask_kubernetes_release.core import files
from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.manifest.command import write_manifest
from dask_kubernetes_release.manifest.table import pypi_size

WHEEL = "dask_kubernetes-2026.3.0-py3-none-any.whl"
SDIST = "dask_kubernetes-2026.3.0.tar.gz"
MakeDist = Callable[..., Path]  # the conftest fixture: a small real wheel or sdist


def test_writes_the_three_outputs(fake_release: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifest", str(fake_release)]) == 0
    table = capsys.readouterr().out
    sizes = {name: (fake_release / name).stat().st_size for name in (WHEEL, SDIST)}
    assert all(pypi_size(size) in table for size in sizes.values())
    assert "source" in table and "py3" in table

    document = json.loads((fake_release / "manifest.json").read_text())
    assert document["version"] == 1
    assert document["project"] == {"name": "dask-kubernetes", "version": "2026.3.0"}
    assert [f["filename"] for f in document["files"]] == [WHEEL, SDIST]
    assert list(document["files"][0]) == [
        "filename",
        "size",
        "python_tag",
        "sha256",
        "md5",
        "blake2b_256",
    ]
    wheel = document["files"][0]
    assert wheel["size"] == sizes[WHEEL] and wheel["python_tag"] == "py3"
    assert wheel["sha256"] in table and wheel["md5"] in table and wheel["blake2b_256"] in table

    sums = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=fake_release, capture_output=True, text=True
    )
    assert sums.returncode == 0, sums.stdout + sums.stderr
    assert sums.stdout.count(": OK") == 2

    requirements = (fake_release / "requirements.txt").read_text()
    hashes = " ".join(f"--hash=sha256:{f['sha256']}" for f in document["files"])
    assert requirements == f"dask-kubernetes==2026.3.0 {hashes}\n"


def test_output_is_byte_stable(fake_release: Path) -> None:
    write_manifest(fake_release)
    first = {n: (fake_release / n).read_bytes() for n in ("manifest.json", "SHA256SUMS")}
    write_manifest(fake_release)
    assert first == {n: (fake_release / n).read_bytes() for n in first}
    assert first["manifest.json"].endswith(b"}\n")


def test_pypi_size_format() -> None:
    assert [pypi_size(n) for n in (0, 1, 999, 1000, 141_300, 89_644, 1_234_567)] == [
        "0 Bytes",
        "1 Byte",
        "999 Bytes",
        "1.0 kB",
        "141.3 kB",
        "89.6 kB",
        "1.2 MB",
    ]


def test_interrupted_write_leaves_previous_manifest_intact(
    fake_release: Path, monkeypatch: pytest.MonkeyPatch, make_dist: MakeDist
) -> None:
    write_manifest(fake_release)
    before = (fake_release / "manifest.json").read_bytes()
    make_dist(fake_release, WHEEL, padding=10)  # a different wheel

    def interrupted(self: Path, target: Path) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomically(fake_release / "manifest.json", "{garbage")
    with pytest.raises(KeyboardInterrupt):
        write_manifest(fake_release)
    monkeypatch.undo()
    assert (fake_release / "manifest.json").read_bytes() == before
    assert [p.name for p in fake_release.iterdir() if p.name.startswith(".")] == []


def test_refuses_a_directory_mixing_releases(fake_release: Path, make_dist: MakeDist) -> None:
    make_dist(fake_release, "dask_kubernetes-2026.4.0.tar.gz", version="2026.4.0")
    with pytest.raises(UsageError, match="mixes several releases"):
        write_manifest(fake_release)
    assert not (fake_release / "manifest.json").exists()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command line, in this interpreter's environment (no bootstrap re-exec)."""
    root = Path(__file__).resolve().parents[3]
    return subprocess.run(
        [sys.executable, "-m", "release", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DASK_K8S_NO_BOOTSTRAP": "1"},
    )


def test_bad_input_is_one_line_and_exit_2(
    fake_release: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (fake_release / "notes.txt").write_text("not a distribution")
    cases = {
        "missing": ["manifest", str(tmp_path / "missing")],
        "empty": ["manifest", str(empty)],
        "foreign file": ["manifest", str(fake_release)],
        "json of a missing file": ["manifest", "--json", str(tmp_path / "nope.whl")],
        "json of an unreadable file": ["manifest", "--json", "/proc/self/mem"],
        "json of a directory": ["manifest", "--json", str(tmp_path)],
    }
    for label, args in cases.items():
        assert main(args) == 2, label
        out, err = capsys.readouterr()
        assert out == "", label
        assert len(err.splitlines()) == 1 and err.startswith("error: "), (label, err)
    real = _cli("manifest", str(fake_release))  # the real process: still no traceback
    assert (real.returncode, real.stdout) == (2, "")
    assert real.stderr == f"error: not a distribution: {fake_release / 'notes.txt'}\n"


def test_json_records_any_file_even_with_a_misleading_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = tmp_path / "renamed-download.whl"
    odd.write_bytes(b"fetched from somewhere")
    assert main(["manifest", "--json", str(odd)]) == 0
    (record,) = json.loads(capsys.readouterr().out)["files"]
    assert (record["filename"], record["size"], record["python_tag"]) == (odd.name, 22, None)
    assert list(tmp_path.iterdir()) == [odd]  # --json writes nothing
