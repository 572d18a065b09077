"""Where the node's binaries are: kubelet, kube-proxy, containerd (+ shim, ctr), runc, the CNI
plugins, CoreDNS.

They are built from pinned sources and cached the way the control plane is (the `nodebins` build);
this module only looks them up and never builds. An explicit directory (the `binaries` argument,
or `DASK_KUBERNETES_NODE_BINARIES`) wins, for development and tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENVIRONMENT = "DASK_KUBERNETES_NODE_BINARIES"
NODE_PROGRAMS = (
    "kubelet",
    "kube-proxy",
    "containerd",
    "containerd-shim-runc-v2",
    "ctr",
    "runc",
    "coredns",
)
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")


class NodeBinariesMissing(Exception):
    """The node's binaries are not built (one line saying what is missing and how to build)."""


@dataclass(frozen=True)
class NodeBinaries:
    bin: Path  # kubelet, kube-proxy, containerd, containerd-shim-runc-v2, ctr, runc, coredns
    cni: Path  # bridge, host-local, loopback, portmap

    def program(self, name: str) -> Path:
        return self.bin / name

    @classmethod
    def from_directory(cls, directory: Path) -> NodeBinaries:
        """`directory` holds the programs; the CNI plugins in `directory/cni` or beside them."""
        cni = directory / "cni" if (directory / "cni").is_dir() else directory
        found = cls(directory, cni)
        missing = [name for name in NODE_PROGRAMS if not (directory / name).is_file()]
        missing += [f"cni/{name}" for name in CNI_PLUGINS if not (cni / name).is_file()]
        if missing:
            raise NodeBinariesMissing(f"node binaries missing in {directory}: {', '.join(missing)}")
        return found


def find_node_binaries(explicit: Path | None = None) -> NodeBinaries:
    """The explicit directory, else $DASK_KUBERNETES_NODE_BINARIES, else the cached build."""
    if explicit is not None:
        return NodeBinaries.from_directory(explicit)
    configured = os.environ.get(ENVIRONMENT)
    if configured:
        return NodeBinaries.from_directory(Path(configured))
    raise NodeBinariesMissing(
        f"the node binaries are not built (set {ENVIRONMENT} to their directory)"
    )
