"""The built node binaries run here and each reports the version tools/node/ pins.

Uses the real cached build (found as the runtime finds it, without Go); skips saying how to make
it when there is none. Also: every binary is static (no ELF interpreter), so it runs in any
root filesystem and under `sudo` without the build machine's libraries.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from dask_kubernetes.local.provision.build import BuildError
from dask_kubernetes.local.provision.nodebuild import (
    BUILD_HINT,
    NodeBuilt,
    find_built_node,
    node_cache_roots,
)
from dask_kubernetes.local.provision.nodepins import (
    BINARIES,
    committed_versions,
    default_node_modules,
)

PINNED = committed_versions(default_node_modules())
PT_INTERP = 3


def built() -> NodeBuilt:
    found = find_built_node(default_node_modules(), node_cache_roots())
    if found is None:
        pytest.skip(f"node binaries are not built: run {BUILD_HINT}")
    return found


def run(binary: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(binary), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, (binary, done.returncode, done.stderr)
    return done.stdout + done.stderr


def has_interpreter(path: Path) -> bool:
    """Whether the ELF file asks for a dynamic loader (a PT_INTERP program header)."""
    with path.open("rb") as handle:
        header = handle.read(64)
        assert header[:4] == b"\x7fELF" and header[4] == 2, f"{path} is not a 64-bit ELF file"
        (phoff,) = struct.unpack_from("<Q", header, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
        handle.seek(phoff)
        table = handle.read(phentsize * phnum)
    return any(struct.unpack_from("<I", table, i * phentsize)[0] == PT_INTERP for i in range(phnum))


def test_kubelet_and_kube_proxy_are_the_control_planes_kubernetes() -> None:
    node = built()
    assert run(node.path("kubelet"), "--version").strip() == f"Kubernetes {PINNED['kubernetes']}"
    assert run(node.path("kube-proxy"), "--version").strip() == f"Kubernetes {PINNED['kubernetes']}"


def test_containerd_ctr_and_the_shim_are_the_pinned_containerd() -> None:
    node = built()
    version = PINNED["containerd"]
    assert run(node.path("containerd"), "--version").split()[:3] == [
        "containerd",
        "github.com/containerd/containerd/v2",
        version,
    ]
    assert run(node.path("ctr"), "--version").split()[-1] == version
    assert f"Version:  {version}" in run(node.path("containerd-shim-runc-v2"), "-v")


def test_runc_is_the_pinned_runc_with_seccomp() -> None:
    out = run(built().path("runc"), "--version")
    assert out.startswith(f"runc version {PINNED['runc'].lstrip('v')}\n"), out
    # Built with the seccomp tag and libseccomp linked in: RuntimeDefault profiles are enforced.
    assert "libseccomp: 2." in out, out


def test_coredns_is_the_pinned_coredns() -> None:
    out = run(built().path("coredns"), "-version")
    assert out.startswith(f"CoreDNS-{PINNED['coredns'].lstrip('v')}\n"), out


@pytest.mark.parametrize("plugin", ["bridge", "host-local", "loopback", "portmap"])
def test_each_cni_plugin_speaks_cni_1_1_and_is_the_pinned_build(plugin: str) -> None:
    path = built().path(plugin)
    env = {"PATH": "/usr/bin:/bin", "CNI_COMMAND": "VERSION"}
    answer = json.loads(run(path, env=env))
    assert "1.1.0" in answer["supportedVersions"], answer
    # Without CNI_COMMAND a plugin prints what it is: the build version we stamped.
    assert f"CNI {plugin} plugin {PINNED['cni-plugins']}" in run(
        path, env={"PATH": "/usr/bin:/bin"}
    )


def test_every_node_binary_is_static() -> None:
    node = built()
    dynamic = [relative for relative in BINARIES if has_interpreter(node.directory / relative)]
    assert dynamic == []


def test_the_warm_build_rechecks_every_hash_in_seconds() -> None:
    node = built()
    if shutil.which("go") is None:
        pytest.skip("no `go` on PATH: the warm build asks the module proxy for the tags' times")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "dask_kubernetes.local.provision", "build", "--node"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("cached node: "), result.stdout
    assert str(node.directory) in result.stdout.splitlines()[0]
    pairs = (line.split("  ") for line in result.stdout.splitlines()[1:])
    printed = {name: digest for digest, name in pairs}
    assert printed == {relative: node.sha256(relative) for relative in BINARIES}
    assert elapsed < 120, f"a warm node build took {elapsed:.0f}s"


def test_the_lookup_re_hashes_against_the_manifest() -> None:
    node = built()
    assert os.access(node.path("kubelet"), os.X_OK)
    try:
        again = find_built_node(default_node_modules(), node_cache_roots())
    except BuildError as exc:  # pragma: no cover - a tampered cache is the failure itself
        pytest.fail(str(exc))
    assert again is not None and again.manifest["binaries"] == node.manifest["binaries"]


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="runc needs root to run a container")


def _bundle(tmp_path: Path, node: NodeBuilt, name: str, **linux: Any) -> Path:
    """A bundle whose root filesystem is one static binary (coredns) and whose process prints
    its version: enough to see runc apply the spec, with no image."""
    bundle = tmp_path / name
    (bundle / "rootfs" / "bin").mkdir(parents=True)
    shutil.copy2(node.path("coredns"), bundle / "rootfs" / "bin" / "coredns")
    subprocess.run([str(node.path("runc")), "spec"], cwd=bundle, check=True, timeout=60)
    config = json.loads((bundle / "config.json").read_text())
    config["process"].update(terminal=False, args=["/bin/coredns", "-version"])
    config["linux"].update(cgroupsPath=f"/dask-kubernetes-test-{name}-{uuid.uuid4().hex[:8]}")
    config["linux"].update(linux)
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def _runc(node: NodeBuilt, state: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(node.path("runc")), "--root", str(state), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@needs_root
def test_runc_applies_a_memory_limit_on_this_cgroup_v1_host(tmp_path: Path) -> None:
    node = built()
    limit = 64 * 1024 * 1024
    bundle = _bundle(tmp_path, node, "memory", resources={"memory": {"limit": limit}})
    state = tmp_path / "state"
    # A created container keeps the stdio runc was given until it starts: a file, not a pipe.
    log = tmp_path / "create.log"
    with log.open("w") as output:
        created = subprocess.run(
            [str(node.path("runc")), "--root", str(state), "create", "memory-check"],
            cwd=bundle,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            timeout=120,
            check=False,
        )
    try:
        assert created.returncode == 0, log.read_text()
        pid = json.loads(_runc(node, state, "state", "memory-check", cwd=bundle).stdout)["pid"]
        cgroups = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        memory = next(line.split(":", 2)[2] for line in cgroups if ":memory:" in line)
        granted = Path(f"/sys/fs/cgroup/memory{memory}/memory.limit_in_bytes").read_text()
        assert int(granted) == limit
    finally:
        deleted = _runc(node, state, "delete", "--force", "memory-check", cwd=bundle)
    assert deleted.returncode == 0, deleted.stderr
    assert _runc(node, state, "list", "-q", cwd=bundle).stdout.strip() == ""


@needs_root
def test_runc_enforces_a_seccomp_profile(tmp_path: Path) -> None:
    """A profile that fails write(2) silences the container: the filter is really installed."""
    node = built()
    state = tmp_path / "state"
    plain = _runc(node, state, "run", "plain", cwd=_bundle(tmp_path, node, "plain"))
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.startswith(f"CoreDNS-{PINNED['coredns'].lstrip('v')}\n")
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["write", "writev"], "action": "SCMP_ACT_ERRNO"}],
    }
    denied = _runc(
        node, state, "run", "denied", cwd=_bundle(tmp_path, node, "denied", seccomp=profile)
    )
    assert "CoreDNS" not in denied.stdout, denied.stdout
