"""The end of a container node, whichever way it comes: what to kill and remove, from a record.

When the node starts it writes `cleanup.json` in its directory: its cgroup root and the identity of
its mount namespace. The orderly stop and the watchdog (after a SIGKILL of the composer, when no
other code of ours runs) both call `clean()`: every process in the node's cgroup subtree (the
containers: they carry the image's environment, not our marker) and every process in its mount
namespace (containerd's shims, the kubelet, anything that escaped) is SIGKILLed; the kernel then
drops the namespace and with it every overlay, tmpfs and pod-netns mount; then the cgroup
directories go, and a further node's own network namespace (with its veth pair).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

from dask_kubernetes.local.containernode import cgroups
from dask_kubernetes.local.network.netns import delete_namespace

RECORD = "cleanup.json"


def write_record(
    node_dir: Path, cgroup_root: str, mount_namespace: str, netns: str | None = None
) -> None:
    """`netns`: the node's own network namespace, for a node after the first."""
    path = node_dir / RECORD
    temporary = path.with_suffix(".tmp")
    record = {"cgroup_root": cgroup_root, "mntns": mount_namespace, "netns": netns}
    temporary.write_text(json.dumps(record))
    temporary.replace(path)


def processes_in_mount_namespace(namespace: str) -> list[int]:
    """PIDs whose mount namespace is `namespace` (`mnt:[inode]`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if str((entry / "ns" / "mnt").readlink()) == namespace:
                found.append(int(entry.name))
    return found


def _kill_mount_namespace(namespace: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (pids := processes_in_mount_namespace(namespace)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)  # killed tasks leave /proc asynchronously; bounded by `timeout`


def clean_node(node_dir: Path, *, timeout: float = 30.0) -> None:
    try:
        record = json.loads((node_dir / RECORD).read_text())
    except (OSError, ValueError):
        return
    namespace = str(record.get("mntns", ""))
    host = str(Path("/proc/self/ns/mnt").readlink())
    # Containers first (so shims see them die), then the namespace's own processes; a record
    # naming the host's namespace (never written, but never trusted either) kills nothing.
    cgroups.kill_and_remove(str(record["cgroup_root"]), timeout=timeout)
    if namespace and namespace != host:
        _kill_mount_namespace(namespace, timeout)
    cgroups.kill_and_remove(str(record["cgroup_root"]), timeout=timeout)
    if record.get("netns"):
        delete_namespace(str(record["netns"]))


def clean(state_dir: Path) -> None:
    """Every container node of the cluster in `state_dir`."""
    nodes = state_dir / "nodes"
    if nodes.is_dir():
        for node_dir in sorted(nodes.iterdir()):
            clean_node(node_dir)
