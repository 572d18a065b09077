"""`release rebuild` runs a hostile sdist's build code confined, and refuses unusable sdists.

The attacker ships an sdist whose in-tree backend (`backend-path`) tries, as its build hook,
to write a file outside its build directory (in the test's directory, and straight in the
shared /tmp, which any user may write) and to connect to a listener this test runs on
127.0.0.1. Confined, neither happens, and the command reports the failed build in one line.
The backend's own error message (which the command passes on) proves it did run and try.
"""

from __future__ import annotations

import io
import select
import socket
import tarfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dask_kubernetes_release.cli import main

HOSTILE_BACKEND = """
import os, socket

def _attack():
    seen = []
    for path in {targets!r}:
        try:
            with open(path, "w") as handle:
                handle.write("written by the sdist's build backend")
            seen.append("write succeeded")
        except OSError as exc:
            seen.append(f"write blocked ({{exc.strerror}})")
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
        seen.append("connect succeeded")
    except OSError as exc:
        seen.append(f"connect blocked ({{exc.strerror}})")
    with open("inside-scratch", "w") as handle:  # its own build directory stays writable
        handle.write("ok")
    return seen

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("hostile backend ran: " + ", ".join(_attack()))
"""

PYPROJECT = """
[build-system]
requires = []
build-backend = "evil"
backend-path = ["."]

[project]
name = "hostile"
version = "1.0"
"""


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return path


def _wheel(directory: Path, name: str = "hostile-1.0-py3-none-any.whl") -> Path:
    path = directory / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hostile/__init__.py", "")
    return path


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def shared_tmp_target() -> Iterator[Path]:
    """A fresh name straight in /tmp (world-writable): only the sandbox keeps a write out."""
    target = Path("/tmp") / f"rebuild-sandbox-test-{uuid.uuid4().hex}"
    try:
        yield target
    finally:
        target.unlink(missing_ok=True)


def test_a_hostile_backend_cannot_write_outside_or_connect(
    tmp_path: Path,
    listener: socket.socket,
    shared_tmp_target: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    marker = tmp_path / "pwned"
    backend = HOSTILE_BACKEND.format(
        targets=[str(marker), str(shared_tmp_target)], port=listener.getsockname()[1]
    )
    dist = tmp_path / "dist"
    dist.mkdir()
    _tar(
        dist / "hostile-1.0.tar.gz",
        {
            "hostile-1.0/pyproject.toml": PYPROJECT.encode(),
            "hostile-1.0/evil.py": backend.encode(),
            "hostile-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: hostile\nVersion: 1.0\n",
        },
    )
    _wheel(dist)

    code = main(["rebuild", str(dist)])

    captured = capsys.readouterr()
    assert not marker.exists(), "the sdist's backend wrote outside its build directory"
    assert not shared_tmp_target.exists(), "the sdist's backend wrote into the shared /tmp"
    pending, _, _ = select.select([listener], [], [], 0)
    assert pending == [], "the sdist's backend connected to 127.0.0.1"
    assert code == 2
    assert captured.err.count("\n") == 1, captured.err
    # It did run, tried both, and was stopped; the failure is reported as the build's.
    assert captured.err.startswith("error: build backend failed: RuntimeError: hostile backend ran")
    assert captured.err.count("write blocked") == 2
    assert "connect blocked" in captured.err


def test_without_a_sandbox_the_backend_never_runs(
    tmp_path: Path,
    listener: socket.socket,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No `unshare` on PATH: the rebuild stops with one line instead of running unconfined."""
    marker = tmp_path / "pwned"
    backend = HOSTILE_BACKEND.format(targets=[str(marker)], port=listener.getsockname()[1])
    dist = tmp_path / "dist"
    dist.mkdir()
    _tar(
        dist / "hostile-1.0.tar.gz",
        {"hostile-1.0/pyproject.toml": PYPROJECT.encode(), "hostile-1.0/evil.py": backend.encode()},
    )
    _wheel(dist)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    assert main(["rebuild", str(dist)]) == 2

    err = capsys.readouterr().err
    assert not marker.exists()
    assert select.select([listener], [], [], 0)[0] == []
    assert err.count("\n") == 1, err
    assert err.startswith("error: cannot confine the build (")
    assert "--no-sandbox" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not a tar archive at all", "is not a usable sdist: not a tar archive"),
        (
            {"a-1.0/pyproject.toml": b"", "b-1.0/pyproject.toml": b""},
            "an sdist holds one top-level directory, not a-1.0, b-1.0",
        ),
        ({"hostile-1.0": b"a file, not a directory"}, "one top-level directory, not hostile-1.0"),
    ],
    ids=["not-a-tar", "two-top-level-directories", "a-file-at-the-top"],
)
def test_an_unusable_sdist_is_one_line_and_exit_2(
    tmp_path: Path,
    content: bytes | dict[str, bytes],
    expected: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sdist = tmp_path / "hostile-1.0.tar.gz"
    if isinstance(content, bytes):
        sdist.write_bytes(content)
    else:
        _tar(sdist, content)
    wheel = _wheel(tmp_path)

    assert main(["rebuild", str(wheel), str(sdist)]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: hostile-1.0.tar.gz")
    assert expected in err


def test_help_says_what_runs_and_where(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["rebuild", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "every backend hook runs in a sandbox" in out
    assert "no network" in out
    assert "--no-sandbox" in out


def test_no_sandbox_says_so_on_every_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sdist = tmp_path / "hostile-1.0.tar.gz"
    sdist.write_bytes(b"not a tar archive at all")
    wheel = _wheel(tmp_path)

    assert main(["rebuild", "--no-sandbox", str(wheel), str(sdist)]) == 2

    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("warning: --no-sandbox: the sdist's build code runs as ")
    assert "with network access" in first


LINKING_BACKEND = """
import os

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    # No build at all: point the output directory at the published wheel's directory.
    os.rename(wheel_directory, wheel_directory + ".old")
    os.symlink({published!r}, wheel_directory)
    return "hostile-1.0-py3-none-any.whl"
"""


def test_a_backend_cannot_pass_off_the_published_wheel_as_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hook owns its output directory; the rebuild must not follow a link it planted there."""
    dist = tmp_path / "dist"
    dist.mkdir()
    backend = LINKING_BACKEND.format(published=str(dist))
    _tar(
        dist / "hostile-1.0.tar.gz",
        {"hostile-1.0/pyproject.toml": PYPROJECT.encode(), "hostile-1.0/evil.py": backend.encode()},
    )
    _wheel(dist)

    code = main(["rebuild", str(dist)])

    captured = capsys.readouterr()
    assert "identical" not in captured.out
    assert code == 2
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("error: build backend failed: out/: ")


def test_a_backend_asking_for_garbage_requirements_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = "def get_requires_for_build_wheel(config_settings=None):\n    return ['!! no']\n"
    dist = tmp_path / "dist"
    dist.mkdir()
    _tar(
        dist / "hostile-1.0.tar.gz",
        {"hostile-1.0/pyproject.toml": PYPROJECT.encode(), "hostile-1.0/evil.py": backend.encode()},
    )
    _wheel(dist)

    assert main(["rebuild", str(dist)]) == 2

    assert capsys.readouterr().err == "error: the wheel backend asks for unusable requirements\n"


HANGING_BACKEND = """
import subprocess, sys, time

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", {marker!r}],
                     start_new_session=True)
    time.sleep(600)
"""


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue  # gone meanwhile
    return found


def test_a_hanging_backend_is_killed_with_everything_it_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import dask_kubernetes_release.build.sandbox as sandbox

    monkeypatch.setattr(sandbox, "HOOK_TIMEOUT_SECONDS", 3)
    marker = f"hanging-backend-{uuid.uuid4().hex}"
    dist = tmp_path / "dist"
    dist.mkdir()
    backend = HANGING_BACKEND.format(marker=marker)
    _tar(
        dist / "hostile-1.0.tar.gz",
        {"hostile-1.0/pyproject.toml": PYPROJECT.encode(), "hostile-1.0/evil.py": backend.encode()},
    )
    _wheel(dist)

    assert main(["rebuild", str(dist)]) == 2

    assert capsys.readouterr().err == (
        "error: build backend failed: its build_wheel hook ran longer than 3 s\n"
    )
    assert _processes_with(marker) == []  # its detached child died with its PID namespace


HATCH_PYPROJECT = """
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "hostile"
version = "1.0"

[tool.hatch.build.targets.wheel]
packages = ["hostile"]

[tool.hatch.build.hooks.custom]
"""

HATCH_HOOK = """
from hatchling.builders.hooks.plugin.interface import BuildHookInterface

{attack}

class CustomBuildHook(BuildHookInterface):
    def initialize(self, version, build_data):
        raise RuntimeError("hostile hatch hook ran: " + ", ".join(_attack()))
"""


def test_a_hostile_hatch_build_hook_cannot_write_outside_or_connect(
    tmp_path: Path,
    listener: socket.socket,
    shared_tmp_target: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The issue's other carrier: a stock backend (hatchling, from the hash-locked toolchain)
    running the sdist's own `hatch_build.py` hook. The hook runs inside the backend's process,
    so it is confined the same way."""
    marker = tmp_path / "pwned"
    attack = HOSTILE_BACKEND.format(
        targets=[str(marker), str(shared_tmp_target)], port=listener.getsockname()[1]
    ).split("def get_requires_for_build_wheel")[0]
    dist = tmp_path / "dist"
    dist.mkdir()
    _tar(
        dist / "hostile-1.0.tar.gz",
        {
            "hostile-1.0/pyproject.toml": HATCH_PYPROJECT.encode(),
            "hostile-1.0/hatch_build.py": HATCH_HOOK.format(attack=attack).encode(),
            "hostile-1.0/hostile/__init__.py": b"",
            "hostile-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: hostile\nVersion: 1.0\n",
        },
    )
    _wheel(dist)

    code = main(["rebuild", str(dist)])

    captured = capsys.readouterr()
    assert not marker.exists(), "the sdist's hatch hook wrote outside its build directory"
    assert not shared_tmp_target.exists(), "the sdist's hatch hook wrote into the shared /tmp"
    assert select.select([listener], [], [], 0)[0] == [], "the hatch hook connected to 127.0.0.1"
    assert code == 2
    assert captured.err.count("\n") == 1, captured.err
    assert "hostile hatch hook ran" in captured.err, captured.err
    assert captured.err.count("write blocked") == 2
    assert "connect blocked" in captured.err
