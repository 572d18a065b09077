"""Where the node's binaries are: kubelet, kube-proxy, containerd (+ shim, ctr), runc, the CNI
plugins, CoreDNS.

They are built from pinned sources (tools/node/) and cached the way the control plane is
(`python -m dask_kubernetes.local.provision build --node`, `provision/nodebuild.py`); this module
only looks the verified entry up (no Go, works under sudo) and never builds. An explicit directory
(the `binaries` argument, or `DASK_KUBERNETES_NODE_BINARIES`) wins, for development.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dask_kubernetes.local.provision.nodebuild import NodeNotBuilt, built_node_binaries
from dask_kubernetes.local.provision.paths import CloneNotFound

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
        """`directory` holds the programs; the CNI plugins in ../cni/bin (the cache entry's
        layout), cni/ inside it, or beside the programs."""
        candidates = (directory.parent / "cni" / "bin", directory / "cni", directory)
        cni = next((c for c in candidates if (c / "bridge").is_file()), directory)
        return from_layout(directory, cni)


def find_node_binaries(explicit: Path | None = None) -> NodeBinaries:
    """The explicit directory, else $DASK_KUBERNETES_NODE_BINARIES, else the cached build."""
    if explicit is not None:
        return NodeBinaries.from_directory(explicit)
    configured = os.environ.get(ENVIRONMENT)
    if configured:
        return NodeBinaries.from_directory(Path(configured))
    try:
        built = built_node_binaries()  # BuildError (a changed binary) goes to the caller
    except (NodeNotBuilt, CloneNotFound) as exc:
        raise NodeBinariesMissing(str(exc)) from None
    return from_layout(built.bin_dir, built.cni_bin_dir)


def from_layout(bin_dir: Path, cni_dir: Path) -> NodeBinaries:
    """The cache entry's layout: bin/ for the programs, cni/bin/ for the plugins only."""
    found = NodeBinaries(bin_dir, cni_dir)
    missing = [name for name in NODE_PROGRAMS if not (bin_dir / name).is_file()]
    missing += [f"cni/{name}" for name in CNI_PLUGINS if not (cni_dir / name).is_file()]
    if missing:
        raise NodeBinariesMissing(f"node binaries missing in {bin_dir}: {', '.join(missing)}")
    return found
