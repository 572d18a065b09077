"""The node's build cache: found without Go, changed binaries refused, pins kept together.

Entries here are made by the build's own `record` over small stand-in files, with the inputs a
real build would key them by (the proxy's tag times, this machine's C toolchain), so no build is
needed; tests/node/test_node_binaries_run.py runs the real binaries when they are built.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dask_kubernetes.local.provision.build import BuildError
from dask_kubernetes.local.provision.golang import PINNED_ENV, Go, host_platform, toolchain
from dask_kubernetes.local.provision.gomod import KUBERNETES_MODULE, required_version
from dask_kubernetes.local.provision.nodebuild import (
    BUILD_COMMAND,
    _key,
    _stamps,
    entry_directory,
    find_built_node,
    record,
)
from dask_kubernetes.local.provision.nodepins import (
    BINARIES,
    COMPONENTS,
    NodeModules,
    Stamp,
    c_toolchain,
    check_same_kubernetes,
    committed_versions,
    default_node_modules,
)

CLI = [sys.executable, "-m", "dask_kubernetes.local.provision"]
NO_GO_PATH = "/usr/bin:/bin"
STAND_IN_C = {"cc": "gcc (stand-in) 0", "libseccomp.a": "0" * 64}


def stand_in_stamps(modules: NodeModules) -> dict[str, Stamp]:
    return {
        name: Stamp(v, "2026-01-01T00:00:00Z") for name, v in committed_versions(modules).items()
    }


def fake_entry(
    cache: Path,
    modules: NodeModules,
    *,
    go_version: str = "go1.26.8",
    stamps: dict[str, Stamp] | None = None,
    c: dict[str, str] | None = None,
) -> Path:
    """A cache entry as `build_node` leaves one, over stand-in bytes, written by its `record`."""
    stamps = stamps or stand_in_stamps(modules)
    c = c or STAND_IN_C
    key = _key(go_version, host_platform(), stamps, c, modules)
    directory = entry_directory(cache, go_version, committed_versions(modules), key)
    for relative in BINARIES:
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / relative).write_bytes(f"#!/bin/sh\necho {relative}\n".encode())
    go = Go(Path("/nonexistent/go"), dict(PINNED_ENV), go_version, host_platform())
    record(directory, go, stamps, c, key, {})
    return directory


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def copied_modules(tmp_path: Path) -> NodeModules:
    committed = default_node_modules()
    shutil.copytree(committed.root, tmp_path / "node")
    shutil.copytree(committed.kube, tmp_path / "kube")
    return NodeModules(tmp_path / "node", tmp_path / "kube")


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_the_lookup_runs_without_go_on_path(tmp_path: Path) -> None:
    """As `sudo` runs it: no Go on PATH, the cache under XDG_CACHE_HOME; the entry is found."""
    entry = fake_entry(tmp_path / "dask-kubernetes" / "node", default_node_modules())
    assert shutil.which("go", path=NO_GO_PATH) is None
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUDO_")}
    env.update(PATH=NO_GO_PATH, XDG_CACHE_HOME=str(tmp_path))
    code = (
        "from dask_kubernetes.local.provision.nodebuild import built_node_binaries as b; n = b(); "
        "print(n.directory, n.path('kubelet'), n.path('bridge'), n.cni_bin_dir)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        str(entry),
        str(entry / "bin" / "kubelet"),
        str(entry / "cni" / "bin" / "bridge"),
        str(entry / "cni" / "bin"),
    ]


def test_nothing_built_says_how_to_build(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUDO_")}
    env.update(PATH=NO_GO_PATH, XDG_CACHE_HOME=str(tmp_path))
    code = "from dask_kubernetes.local.provision.nodebuild import built_node_binaries as b; b()"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 1
    assert f"run `{BUILD_COMMAND}`" in done.stderr
    assert "kubelet" not in done.stdout and "Kubernetes v1.37.2" in done.stderr


def test_a_changed_binary_is_refused(tmp_path: Path) -> None:
    modules = default_node_modules()
    entry = fake_entry(tmp_path, modules)
    assert find_built_node(modules, [tmp_path]) is not None
    flip_a_byte(entry / "bin" / "runc")
    with pytest.raises(BuildError, match=r"bin/runc has sha256 \w+, not the \w+ recorded"):
        find_built_node(modules, [tmp_path])


def test_a_missing_binary_is_refused(tmp_path: Path) -> None:
    modules = default_node_modules()
    entry = fake_entry(tmp_path, modules)
    (entry / "cni" / "bin" / "portmap").unlink()
    with pytest.raises(BuildError, match=r"cni/bin/portmap is missing; rebuild with"):
        find_built_node(modules, [tmp_path])


def test_an_entry_built_from_other_inputs_is_not_used(tmp_path: Path) -> None:
    modules = copied_modules(tmp_path)
    fake_entry(tmp_path / "cache", modules)
    assert find_built_node(modules, [tmp_path / "cache"]) is not None
    # Same versions, one dependency's hash changed (a bumped go.sum line): not this build.
    go_sum = modules.root / "containerd" / "go.sum"
    go_sum.write_text(go_sum.read_text() + "example.com/extra v1.0.0 h1:AAAA=\n")
    assert find_built_node(modules, [tmp_path / "cache"]) is None


def test_a_manifest_whose_key_or_c_toolchain_was_edited_is_not_used(tmp_path: Path) -> None:
    modules = default_node_modules()
    entry = fake_entry(tmp_path, modules)
    manifest = entry / "manifest.json"
    original = manifest.read_text()
    manifest.write_text(re.sub(r'"key": "[0-9a-f]{4}', '"key": "0000', original))
    assert find_built_node(modules, [tmp_path]) is None
    # A different libseccomp.a than the one the key was made with: the key no longer matches.
    manifest.write_text(original.replace("0" * 64, "1" * 64))
    assert find_built_node(modules, [tmp_path]) is None
    manifest.write_text(original)
    assert find_built_node(modules, [tmp_path]) is not None


def test_the_newest_go_build_of_these_inputs_is_used(tmp_path: Path) -> None:
    modules = default_node_modules()
    fake_entry(tmp_path, modules, go_version="go1.26.8")
    newer = fake_entry(tmp_path, modules, go_version="go1.27.3")
    found = find_built_node(modules, [tmp_path])
    assert found is not None and found.directory == newer


def test_the_kubelet_is_pinned_to_the_control_planes_kubernetes() -> None:
    modules = default_node_modules()
    plane = required_version(
        (modules.kube / "kubernetes" / "go.mod").read_text(), KUBERNETES_MODULE
    )
    assert check_same_kubernetes(modules) == plane == committed_versions(modules)["kubernetes"]


def test_a_kubelet_of_another_version_than_the_plane_is_refused(tmp_path: Path) -> None:
    modules = copied_modules(tmp_path)
    go_mod = modules.root / "kubernetes" / "go.mod"
    go_mod.write_text(
        go_mod.read_text().replace("k8s.io/kubernetes v1.37.2", "k8s.io/kubernetes v1.37.3")
    )
    with pytest.raises(
        BuildError, match=r"pins k8s\.io/kubernetes v1\.37\.3 but the control plane"
    ):
        check_same_kubernetes(modules)
    line = one_line(
        subprocess.run(
            [
                *CLI,
                "build",
                "--node",
                "--modules",
                str(modules.root),
                "--cache-dir",
                str(tmp_path / "c"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        ),
        1,
    )
    assert "the kubelet must match the plane" in line


def test_each_go_mod_says_how_to_change_its_version() -> None:
    modules = default_node_modules()
    for component in COMPONENTS:
        head = (modules.module(component) / "go.mod").read_text().split("\nmodule ", 1)[0]
        assert "To change" in head and "go get" in head, component.name
        assert (modules.module(component) / "go.sum").stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["build", "--node", "--modules", "/nonexistent/node"], "not found"),
        (["build", "--node", "--jobs", "0"], "--jobs"),
    ],
)
def test_unusable_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)
    assert needle in one_line(result, 2)


def test_the_cli_refuses_a_changed_binary_in_one_line(tmp_path: Path) -> None:
    """The warm path of `build --node`: keyed as the real build keys it (the proxy's tag times,
    this machine's gcc and libseccomp.a), so the CLI finds the entry, re-hashes, refuses."""
    found = shutil.which("go")
    if found is None:
        pytest.skip("no `go` on PATH: the warm build asks the module proxy for the tags' times")
    try:
        c = c_toolchain()
    except BuildError as exc:
        pytest.skip(str(exc))
    modules = default_node_modules()
    go = toolchain(Path(found))
    entry = fake_entry(
        tmp_path,
        modules,
        go_version=go.version,
        stamps=_stamps(go, modules, committed_versions(modules)),
        c=c,
    )
    result = subprocess.run(
        [*CLI, "build", "--node", "--cache-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("cached node: Kubernetes v1.37.2"), result.stdout
    assert str(entry) in result.stdout.splitlines()[0]
    pairs = (line.split("  ") for line in result.stdout.splitlines()[1:])
    printed = {name: digest for digest, name in pairs}
    recorded = json.loads((entry / "manifest.json").read_text())["binaries"]
    assert printed == {name: value["sha256"] for name, value in recorded.items()}
    flip_a_byte(entry / "bin" / "containerd")
    line = one_line(
        subprocess.run(
            [*CLI, "build", "--node", "--cache-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
        ),
        1,
    )
    assert str(entry / "bin" / "containerd") in line and "recorded when it was built" in line
