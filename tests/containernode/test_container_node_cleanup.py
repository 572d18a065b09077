"""Nothing of a container node outlives it: not after an orderly stop, not after Ctrl-C of the CLI,
not after a SIGKILL of the CLI (the watchdog's work then). Checked from the host: no process with
our marker, none in the node's cgroup subtree or its mount namespace (so the containers, the shims
and every overlay/tmpfs/pod-netns mount are gone), no cgroup directory, no network namespace, no
mount under the state dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from containernode_support import (
    Kubectl,
    eventually,
    node_binaries,
    node_images,
    pod,
    require_root,
)
from control_planes import built_binaries

from dask_kubernetes.local import LocalKubernetes
from dask_kubernetes.local.containernode import cgroups
from dask_kubernetes.local.containernode.cleanup import RECORD, processes_in_mount_namespace
from dask_kubernetes.local.kubelet.process_scan import processes_of
from dask_kubernetes.local.network.netns import namespace_exists

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
DASK = str(Path(sys.executable).with_name("dask"))


def _record(state_dir: Path) -> dict[str, Any]:
    return dict(json.loads((state_dir / "nodes" / "local" / RECORD).read_text()))


def _netns_of(record: dict[str, Any]) -> str:
    """The cluster's network namespace, from the node's cgroup root `/dask-kubernetes/NS-NODE`."""
    return str(record["cgroup_root"]).rsplit("/", 1)[1].rsplit("-", 1)[0]


def _run_a_pod(kubectl: Kubectl) -> None:
    kubectl.apply(pod("sleeper", "default", ["sleep", "3600"]))
    kubectl.wait_ready("sleeper", "default")


def _leftovers(state_dir: Path, record: dict[str, Any], containers: set[int]) -> list[str]:
    found = []
    if processes_of(state_dir):
        found.append(f"marked processes {processes_of(state_dir)}")
    if cgroups.processes_in(record["cgroup_root"]):
        found.append(f"cgroup processes {cgroups.processes_in(record['cgroup_root'])}")
    if processes_in_mount_namespace(record["mntns"]):
        found.append(f"mount-namespace processes {processes_in_mount_namespace(record['mntns'])}")
    alive = {pid for pid in containers if Path(f"/proc/{pid}").exists()}
    if alive:
        found.append(f"container processes {alive}")
    if cgroups.leftovers(record["cgroup_root"]):
        found.append(f"cgroups {cgroups.leftovers(record['cgroup_root'])}")
    if namespace_exists(_netns_of(record)):
        found.append(f"netns {_netns_of(record)}")
    if str(state_dir) in Path("/proc/self/mountinfo").read_text():
        found.append("mounts under the state dir")
    return found


def test_an_orderly_stop_leaves_nothing(tmp_path: Path) -> None:
    require_root()
    plane = built_binaries().directory / "bin"
    binaries = node_binaries()
    images = node_images(tmp_path / "images")
    state_dir = (tmp_path / "state").resolve()
    with LocalKubernetes(
        state_dir,
        control_plane="real",
        binaries=plane,
        node="containers",
        node_binaries=binaries.bin,
        images=images,
    ) as k8s:
        kubectl = Kubectl(plane / "kubectl", k8s.kubeconfig)
        _run_a_pod(kubectl)
        record = _record(state_dir)
        containers = cgroups.processes_in(record["cgroup_root"])
        assert len(containers) >= 2  # pause and sleep, at least
        assert processes_in_mount_namespace(record["mntns"])  # containerd, kubelet, shims
        assert namespace_exists(_netns_of(record))
    assert _leftovers(state_dir, record, containers) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "crash"])
def test_the_cli_leaves_nothing_after_ctrl_c_or_a_crash(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """Ctrl-C: the CLI stops everything itself. SIGKILL: the watchdog kills the containers by
    cgroup and the node's mount namespace by its processes, then removes the network namespace."""
    require_root()
    plane = built_binaries().directory / "bin"
    binaries = node_binaries()
    images = node_images(tmp_path / "images")
    state_dir = (tmp_path / "state").resolve()
    command = [DASK, "kubernetes", "local", "--control-plane", "real", "--node", "containers"]
    command += ["--no-operator", "--state-dir", str(state_dir)]
    for image in images:
        command += ["--image", str(image)]
    env = {**os.environ, "DASK_KUBERNETES_NODE_BINARIES": str(binaries.bin)}
    cli = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert cli.stdout is not None
        lines: list[str] = []
        while not any(line.startswith("export KUBECONFIG=") for line in lines):
            line = cli.stdout.readline()
            assert line, (lines, cli.stderr.read() if cli.stderr else "")
            lines.append(line)
        kubeconfig = lines[-1].strip().split("=", 1)[1]
        _run_a_pod(Kubectl(plane / "kubectl", kubeconfig))
        record = _record(state_dir)
        containers = cgroups.processes_in(record["cgroup_root"])
        assert containers
    finally:
        cli.send_signal(signum)
        code = cli.wait(120)
    if signum == signal.SIGINT:
        assert code == 0, cli.stderr.read() if cli.stderr else ""
        assert _leftovers(state_dir, record, containers) == []
    eventually(
        lambda: _leftovers(state_dir, record, containers) == [] or None,
        what=f"a clean machine (left: {_leftovers(state_dir, record, containers)})",
    )
