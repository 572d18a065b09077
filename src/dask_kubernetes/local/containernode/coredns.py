"""Cluster DNS for every program in a pod, Python or not: CoreDNS as a process of the node.

Decided against a Deployment in kube-system: as a process it needs no image imported before the
first pod can resolve anything, and it serves the `cluster.local` zone from the start, before the
first pod. Pods reach it the Kubernetes way: the `kube-dns` Service (ClusterIP 10.96.0.10, the
kubelet's `clusterDNS`) is created right after the plane starts, so no other Service can take that
address, and an EndpointSlice of ours points it at the node address, where CoreDNS listens;
kube-proxy DNATs 10.96.0.10:53 there like any Service. CoreDNS' `kubernetes` plugin watches
Services, EndpointSlices, Pods and Namespaces as `system:coredns` (a ClusterRole with exactly
those reads). No `forward`: the cluster's namespace has no way out, so names outside
`cluster.local` fail fast (NXDOMAIN/REFUSED) instead of timing out.

Not done: with more than one node, one CoreDNS still serves all (it runs with the first node).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dask_kubernetes.local.containernode.layout import (
    CLUSTER_DNS,
    CLUSTER_DOMAIN,
    COREDNS_HEALTH_PORT,
    COREDNS_PORT,
    COREDNS_READY_PORT,
    NodeLayout,
)

USER = "system:coredns"
MANAGED_BY = "dask-kubernetes.local"


@dataclass
class CoreDNSSettings:
    binary: Path
    layout: NodeLayout
    address: str

    def corefile(self) -> str:
        return (
            f".:{COREDNS_PORT} {{\n"
            f"    bind {self.address}\n"
            "    errors\n"
            f"    health {self.address}:{COREDNS_HEALTH_PORT}\n"
            f"    ready {self.address}:{COREDNS_READY_PORT}\n"
            f"    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{\n"
            f"        kubeconfig {self.layout.coredns_kubeconfig}\n"
            "        pods insecure\n"
            "        fallthrough in-addr.arpa ip6.arpa\n"
            "    }\n"
            "    cache 5\n"
            "}\n"
        )

    def write_config(self) -> Path:
        path = self.layout.corefile
        temporary = path.with_suffix(".tmp")
        temporary.write_text(self.corefile())
        temporary.replace(path)
        return path

    def argv(self) -> list[str]:
        return [str(self.binary), "-conf", str(self.layout.corefile)]

    @property
    def ready_url(self) -> str:
        """200 once the kubernetes plugin has synced its caches."""
        return f"http://{self.address}:{COREDNS_READY_PORT}/ready"

    def objects(self) -> list[dict[str, Any]]:
        """RBAC for CoreDNS, the kube-dns Service and the EndpointSlice pointing it at us."""
        labels = {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}
        ports = [("dns", "UDP"), ("dns-tcp", "TCP")]
        return [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": USER},
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["services", "pods", "namespaces"],
                        "verbs": ["list", "watch"],
                    },
                    {
                        "apiGroups": ["discovery.k8s.io"],
                        "resources": ["endpointslices"],
                        "verbs": ["list", "watch"],
                    },
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": USER},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": USER,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}
                ],
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
                "spec": {
                    "clusterIP": CLUSTER_DNS,
                    "ports": [
                        {"name": name, "protocol": protocol, "port": COREDNS_PORT}
                        for name, protocol in ports
                    ],
                },
            },
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": "kube-dns-node",
                    "namespace": "kube-system",
                    "labels": {
                        "kubernetes.io/service-name": "kube-dns",
                        "endpointslice.kubernetes.io/managed-by": MANAGED_BY,
                    },
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": [self.address], "conditions": {"ready": True}}],
                "ports": [
                    {"name": name, "protocol": protocol, "port": COREDNS_PORT}
                    for name, protocol in ports
                ],
            },
        ]
