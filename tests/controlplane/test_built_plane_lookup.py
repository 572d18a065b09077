"""Running the real plane finds its build without Go: `sudo`'s PATH has none (issue 22).

The lookup (`find_built`) reads the pinned versions from the committed go.mod files and accepts an
entry only if the key its manifest records is the key of these inputs; every binary is then
re-hashed, and a changed one is refused in one line. The entries here are made by the build's
own `record` over small stand-in files, so no 40-minute build is needed; the last test runs the
real build's binaries through the CLI when they exist.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from control_planes import built_binaries

from dask_kubernetes.local.provision.build import (
    BINARIES,
    BUILD_COMMAND,
    BuildError,
    Pins,
    committed_versions,
    entry_directory,
    find_built,
    record,
)
from dask_kubernetes.local.provision.golang import PINNED_ENV, Go, cache_roots, host_platform
from dask_kubernetes.local.provision.gomod import Modules, default_modules
from dask_kubernetes.local.real import cached_binaries

DASK = str(Path(sys.executable).with_name("dask"))
NO_GO_PATH = "/usr/bin:/bin"
BUILD_DATE = "2026-10-27T12:01:04Z"


def fake_entry(cache: Path, modules: Modules, go_version: str = "go1.26.8") -> Path:
    """A cache entry as `build` leaves one, for stand-in bytes: made by the build's `record`."""
    kubernetes, etcd = committed_versions(modules)
    go = Go(Path("/nonexistent/go"), dict(PINNED_ENV), go_version, host_platform())
    pinned = Pins(kubernetes, etcd, BUILD_DATE)
    directory = entry_directory(cache, go, modules, pinned)
    (directory / "bin").mkdir(parents=True)
    for name in BINARIES:
        (directory / "bin" / name).write_bytes(f"#!/bin/sh\necho {name}\n".encode())
    record(go, modules, pinned, directory, {})
    return directory


def flip_a_byte(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))


def without_go(cache_home: Path) -> dict[str, str]:
    """The environment `sudo` gives: no Go on PATH, no invoking user; the cache under test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUDO_")}
    env.update(PATH=NO_GO_PATH, XDG_CACHE_HOME=str(cache_home))
    assert shutil.which("go", path=NO_GO_PATH) is None
    return env


def test_the_build_is_found_with_no_go_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_home = tmp_path / "xdg"
    entry = fake_entry(cache_home / "dask-kubernetes" / "controlplane", default_modules())
    for name, value in without_go(cache_home).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SUDO_USER", raising=False)
    assert cached_binaries() == entry / "bin"


def test_the_newest_go_build_of_these_inputs_is_used(tmp_path: Path) -> None:
    modules = default_modules()
    fake_entry(tmp_path, modules, "go1.26.6")
    newer = fake_entry(tmp_path, modules, "go1.26.10")
    found = find_built(modules, [tmp_path])
    assert found is not None and found.directory == newer


def test_an_entry_built_from_other_inputs_is_not_used(tmp_path: Path) -> None:
    modules = Modules(tmp_path / "kube")
    shutil.copytree(default_modules().root, modules.root)
    fake_entry(tmp_path / "cache", modules)
    assert find_built(modules, [tmp_path / "cache"]) is not None
    # The same versions, one dependency's hash changed (e.g. a bumped go.sum line): not this build.
    go_sum = modules.kubernetes / "go.sum"
    go_sum.write_text(go_sum.read_text() + "example.com/extra v1.0.0 h1:AAAA=\n")
    assert find_built(modules, [tmp_path / "cache"]) is None


def test_a_manifest_whose_key_was_edited_is_not_used(tmp_path: Path) -> None:
    modules = default_modules()
    entry = fake_entry(tmp_path, modules)
    manifest = entry / "manifest.json"
    manifest.write_text(re.sub(r'"key": "[0-9a-f]{4}', '"key": "0000', manifest.read_text()))
    assert find_built(modules, [tmp_path]) is None


def test_a_changed_binary_is_refused(tmp_path: Path) -> None:
    modules = default_modules()
    entry = fake_entry(tmp_path, modules)
    flip_a_byte(entry / "bin" / "kube-apiserver")
    with pytest.raises(BuildError, match=r"kube-apiserver has sha256 \w+, not the \w+ recorded"):
        find_built(modules, [tmp_path])


def _real_cli(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    command = [DASK, "kubernetes", "local", "--control-plane", "real", "--no-operator", *extra]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def _one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the real plane needs root")


@needs_root
def test_under_sudo_the_invoking_users_cache_is_searched_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sudo resets HOME: a build made as yourself is in your cache, not root's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("SUDO_USER", "root")  # the one user every machine has, with a home
    assert cache_roots() == [
        tmp_path / "dask-kubernetes" / "controlplane",
        Path(pwd.getpwnam("root").pw_dir) / ".cache" / "dask-kubernetes" / "controlplane",
    ]
    monkeypatch.delenv("SUDO_USER")
    assert cache_roots() == [tmp_path / "dask-kubernetes" / "controlplane"]


@needs_root
def test_cli_refuses_a_changed_binary_in_one_line(tmp_path: Path) -> None:
    cache_home = tmp_path / "xdg"
    entry = fake_entry(cache_home / "dask-kubernetes" / "controlplane", default_modules())
    flip_a_byte(entry / "bin" / "etcd")
    line = _one_line(_real_cli(without_go(cache_home), "--state-dir", str(tmp_path / "s")), 1)
    assert str(entry / "bin" / "etcd") in line and "recorded when it was built" in line


@needs_root
def test_cli_says_how_to_build_when_nothing_is_built(tmp_path: Path) -> None:
    env = without_go(tmp_path / "xdg")
    line = _one_line(_real_cli(env, "--state-dir", str(tmp_path / "s")), 2)
    assert f"`{BUILD_COMMAND}`" in line and BUILD_COMMAND.startswith(".venv/bin/python -m ")
    assert "about 40 minutes cold on 2 cores" in line
    assert "v1.37.2" in line


@pytest.mark.slow
@needs_root
def test_cli_runs_the_real_build_without_go_and_prints_its_kubectl(tmp_path: Path) -> None:
    built = built_binaries()
    env = without_go(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"))
    command = [DASK, "kubernetes", "local", "--control-plane", "real", "--no-operator"]
    command += ["--state-dir", str(tmp_path / "s")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().decode() for _ in range(4)]
        assert lines[0].startswith("dask-kubernetes local: ready at https://"), lines
        path_line = lines[3].split("  #")[0].strip()
        assert path_line == f'export PATH={built.directory / "bin"}:"$PATH"', lines
        shell = subprocess.run(
            ["/bin/sh", "-c", f"{lines[2].strip()}; {path_line}; kubectl version -o json"],
            capture_output=True,
            text=True,
            env={"PATH": NO_GO_PATH, "HOME": str(tmp_path)},
            timeout=60,
        )
        assert shell.returncode == 0, shell.stderr
        assert '"gitVersion": "v1.37.2"' in shell.stdout and "skew" not in shell.stderr
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
