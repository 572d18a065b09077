"""The node's cgroup subtree: made before the kubelet starts, emptied and removed at the end.

The kubelet (cgroupfs driver, `cgroupsPerQOS`) puts every pod under its `cgroupRoot`, and
containerd's runc puts each container under the pod's cgroup, so one subtree per node holds every
container process. That is how the end (orderly or after a SIGKILL of the composer, through the
watchdog) finds processes that carry none of our markers: container processes get the image's
environment, not ours. Each node has its own root, `/dask-kubernetes/<netns>-<node>`, so two nodes
(or two clusters) never share QoS cgroups.

This host mounts cgroup v1 (one hierarchy per controller, plus `name=systemd` and an empty v2 at
`unified`); on a v2-only host the same code sees one hierarchy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

CGROUP_MOUNT = Path("/sys/fs/cgroup")
PARENT = "dask-kubernetes"


def cgroup_root(netns: str, node: str) -> str:
    """The kubelet's `cgroupRoot` for this node (a path inside every hierarchy)."""
    return f"/{PARENT}/{netns}-{node}"


def hierarchies() -> list[Path]:
    """The mounted cgroup hierarchies: the v2 mount alone on a v2 host; on this hybrid v1 host
    every controller's, name=systemd's and the empty v2 `unified` one (the kubelet's libcontainer
    mirrors its QoS cgroups there too, so the end must remove them there as well)."""
    if (CGROUP_MOUNT / "cgroup.controllers").exists():
        return [CGROUP_MOUNT]
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        if fields[separator + 1] in ("cgroup", "cgroup2"):
            found.append(Path(fields[4]))
    return sorted(set(found))


def _copy_cpuset(directory: Path) -> None:
    """A new v1 cpuset cgroup starts with no CPUs and no memory nodes: no task may join it until
    they are copied from the parent (the kernel does not inherit them)."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        own = directory / name
        if own.exists() and not own.read_text().strip():
            own.write_text((directory.parent / name).read_text())


def create(root: str) -> list[Path]:
    """mkdir the root in every hierarchy (the kubelet refuses a `cgroupRoot` that does not exist
    in all of them); returns the directories made."""
    made = []
    for hierarchy in hierarchies():
        directory = hierarchy / root.lstrip("/")
        for level in (directory.parent, directory):
            level.mkdir(exist_ok=True)
            if hierarchy.name == "cpuset":
                _copy_cpuset(level)
        made.append(directory)
    return made


def _pids(directory: Path) -> set[int]:
    pids: set[int] = set()
    for procs in directory.rglob("cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(line) for line in procs.read_text().split())
    return pids


def processes_in(root: str) -> set[int]:
    """Every PID in the subtree, in any hierarchy."""
    pids: set[int] = set()
    for hierarchy in hierarchies():
        directory = hierarchy / root.lstrip("/")
        if directory.is_dir():
            pids |= _pids(directory)
    return pids


def kill_and_remove(root: str, *, timeout: float = 30.0) -> set[int]:
    """SIGKILL every process in the subtree until none is left (a dying shim may still fork), then
    rmdir the subtree deepest first in every hierarchy; returns the PIDs signalled. Bounded: after
    `timeout` the directories that still hold tasks stay (and the caller's check reports them)."""
    signalled: set[int] = set()
    deadline = time.monotonic() + timeout
    while (pids := processes_in(root)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        signalled |= pids
        time.sleep(0.05)  # the kernel removes a killed task from cgroup.procs asynchronously
    for hierarchy in hierarchies():
        directory = hierarchy / root.lstrip("/")
        if not directory.is_dir():
            continue
        for level in sorted(
            (p for p in directory.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)
        ):
            with contextlib.suppress(OSError):
                level.rmdir()
        with contextlib.suppress(OSError):
            directory.rmdir()
        with contextlib.suppress(OSError):  # the shared parent, once no cluster uses it
            directory.parent.rmdir()
    return signalled


def leftovers(root: str) -> list[Path]:
    """Directories of the subtree still present (for the tests' "nothing left" check)."""
    return [
        hierarchy / root.lstrip("/")
        for hierarchy in hierarchies()
        if (hierarchy / root.lstrip("/")).exists()
    ]
