"""The node's own mount namespace: every mount containerd and the kubelet make stays in it.

containerd mounts each container's overlay root filesystem and bind-mounts each pod's network
namespace; the kubelet mounts tmpfs for Secret, ConfigMap and projected volumes and makes its root
directory rshared. In the host's mount namespace every one of those would outlive a SIGKILL of
the composer until someone unmounted it. Here containerd is started by `unshare --mount
--propagation slave` (host mounts still reach us, ours never reach the host), and the kubelet and
`ctr` join that namespace with `nsenter --mount=/proc/<containerd>/ns/mnt`. When the last process
in it dies — containerd, the kubelet, the shims, the containers — the kernel drops the namespace
and every mount in it: nothing to unmount, whatever way the node ended.

Inside, before containerd starts, a tmpfs goes on /run/containerd (sockets and runtime state: see
layout.py), and directories of the state dir are bind-mounted where the programs expect short or
fixed paths: libcni's cache on /var/lib/cni (its path is fixed), the kubelet's root on
/var/lib/kubelet (its sockets, e.g. pod-resources, must fit the 108-byte limit of a unix socket
path, which a test's temporary directory does not). The targets are made on the host if missing
(empty directories, the only trace on the host; /run is a tmpfs).
Both `unshare` and `nsenter` exec the program, so the PID we record is the program's own.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from dask_kubernetes.local.containernode.layout import RUNTIME_DIR


def in_new_namespace(argv: list[str], binds: list[tuple[Path, Path]]) -> list[str]:
    """argv that runs `argv` as the first process of a new mount namespace: a tmpfs on
    /run/containerd, then each (source, target) of `binds` bind-mounted (targets made if
    missing), then exec."""
    steps = ["set -e", f"mkdir -p {RUNTIME_DIR}"]
    steps.append(f"mount -t tmpfs -o mode=0711 dask-kubernetes-node {RUNTIME_DIR}")
    for source, target in binds:
        steps.append(f"mkdir -p {shlex.quote(str(target))}")
        steps.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(str(target))}")
    steps.append('exec "$@"')
    script = "; ".join(steps)
    return ["unshare", "--mount", "--propagation", "slave", "--", "sh", "-c", script, "sh", *argv]


def in_namespace_of(pid: int, argv: list[str]) -> list[str]:
    """argv that runs `argv` in the mount namespace of process `pid` (containerd's)."""
    return ["nsenter", f"--mount=/proc/{pid}/ns/mnt", "--", *argv]


def namespace_id(pid: int) -> str:
    """`mnt:[inode]` of the process's mount namespace (tests compare it with the host's)."""
    return str(Path(f"/proc/{pid}/ns/mnt").readlink())
