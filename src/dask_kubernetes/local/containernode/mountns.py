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
layout.py) and the state directory's CNI cache is bind-mounted on /var/lib/cni (libcni's cache
path is fixed). Both targets are made on the host if missing (empty directories; /run is a tmpfs).
Both `unshare` and `nsenter` exec the program, so the PID we record is the program's own.
"""

from __future__ import annotations

from pathlib import Path

from dask_kubernetes.local.containernode.layout import CNI_CACHE_TARGET, RUNTIME_DIR

# Runs as `sh -c SCRIPT sh CNI_CACHE PROGRAM ARGS...` inside the new mount namespace.
_PREPARE = (
    "set -e; "
    f"mkdir -p {RUNTIME_DIR} {CNI_CACHE_TARGET}; "
    f"mount -t tmpfs -o mode=0711 dask-kubernetes-node {RUNTIME_DIR}; "
    f'mount --bind "$1" {CNI_CACHE_TARGET}; '
    "shift; "
    'exec "$@"'
)


def in_new_namespace(argv: list[str], cni_cache: Path) -> list[str]:
    """argv that runs `argv` as the first process of a new mount namespace prepared as above."""
    return [
        "unshare",
        "--mount",
        "--propagation",
        "slave",
        "--",
        "sh",
        "-c",
        _PREPARE,
        "sh",
        str(cni_cache),
        *argv,
    ]


def in_namespace_of(pid: int, argv: list[str]) -> list[str]:
    """argv that runs `argv` in the mount namespace of process `pid` (containerd's)."""
    return ["nsenter", f"--mount=/proc/{pid}/ns/mnt", "--", *argv]


def namespace_id(pid: int) -> str:
    """`mnt:[inode]` of the process's mount namespace (tests compare it with the host's)."""
    return str(Path(f"/proc/{pid}/ns/mnt").readlink())
