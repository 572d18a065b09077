"""A further node's own network namespace, joined to the cluster's by a veth pair.

Two kubelets and two kube-proxies cannot share one network namespace (one set of iptables chains,
one kubelet port per address), so every node after the first gets a namespace of its own,
`<cluster ns>-<n>`, with its address 10.240.0.<n> on the veth end `eth0`. In the cluster's
namespace (where the API server, CoreDNS and the first node live) the other end carries a /32
route to that address; once the controller manager has given the Node its podCIDR, that CIDR is
routed via the node's address too. Inside, everything else goes to the cluster's namespace
(`default via 10.240.0.1`). Nothing leaves either namespace: neither has a way out.
"""

from __future__ import annotations

import subprocess

from dask_kubernetes.local.controlplane.process import ComponentError
from dask_kubernetes.local.network.netns import NODE_ADDRESS, NetworkNamespace


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ComponentError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def node_address(index: int) -> str:
    """Node `index` (0 is the first, in the cluster's namespace) is 10.240.0.<index+1>."""
    prefix = NODE_ADDRESS.rsplit(".", 1)[0]
    return f"{prefix}.{index + 1}"


class NodeNetwork:
    """`create()` the namespace and the link; `route_pods(cidr)` later; `delete()` at the end."""

    def __init__(self, cluster: NetworkNamespace, index: int) -> None:
        self.cluster = cluster
        self.index = index
        self.address = node_address(index)
        self.link = f"dkn{index}-{cluster.name[3:]}"[:15]  # the cluster side's veth
        self.namespace: NetworkNamespace | None = None

    def create(self) -> NetworkNamespace:
        namespace = self.namespace = NetworkNamespace.create(
            f"{self.cluster.name}-{self.index}", local_routes=()
        )
        try:
            self._link(namespace.name, self.cluster.name)
        except BaseException:
            self.delete()
            raise
        return namespace

    def _link(self, inside: str, outside: str) -> None:
        _ip("-n", outside, "link", "add", self.link, "type", "veth", "peer", "name", "eth0",
            "netns", inside)  # fmt: skip
        _ip("-n", outside, "link", "set", self.link, "up")
        _ip("-n", inside, "link", "set", "eth0", "up")
        _ip("-n", inside, "address", "add", f"{self.address}/32", "dev", "eth0")
        _ip("-n", inside, "route", "add", f"{NODE_ADDRESS}/32", "dev", "eth0")
        _ip("-n", inside, "route", "add", "default", "via", NODE_ADDRESS, "dev", "eth0")
        _ip("-n", outside, "route", "add", f"{self.address}/32", "dev", self.link)

    def route_pods(self, pod_cidr: str) -> None:
        """The cluster's namespace reaches this node's pods through its address."""
        assert self.namespace is not None
        _ip("-n", self.cluster.name, "route", "replace", pod_cidr, "via", self.address)

    def delete(self) -> None:
        """The namespace goes, and the veth pair with it (deleting one end deletes both)."""
        if self.namespace is not None:
            self.namespace.delete()
            self.namespace = None
