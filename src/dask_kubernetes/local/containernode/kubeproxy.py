"""kube-proxy for one node: iptables mode, inside the cluster's network namespace.

Its rules live in that namespace's netfilter tables only (the host's are never touched), and go
with the namespace. Settings:
- `mode: iptables` (the Debian `iptables` package, nf_tables backend; this kernel has both).
- `clusterCIDR` the plane's pod CIDR, so traffic from outside it to a ClusterIP is masqueraded.
- `nodePortAddresses` the node's address only: NodePorts answer on 10.240.0.x, not on 127.0.0.1
  (no `route_localnet` change either).
- `conntrack.*` all zero: kube-proxy would otherwise raise the host-wide `nf_conntrack_max`; the
  per-namespace timeouts are left as the kernel sets them.
- healthz and metrics on the node's address; identity `system:kube-proxy` (bound to
  `system:node-proxier` by the API server's bootstrap policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dask_kubernetes.local.containernode.layout import (
    KUBE_PROXY_HEALTHZ_PORT,
    KUBE_PROXY_METRICS_PORT,
    NodeLayout,
)


@dataclass
class KubeProxySettings:
    binary: Path
    layout: NodeLayout
    address: str
    cluster_cidr: str

    def config(self) -> dict[str, Any]:
        return {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "iptables",
            "clientConnection": {"kubeconfig": str(self.layout.kube_proxy_kubeconfig)},
            "hostnameOverride": self.layout.name,
            "bindAddress": self.address,
            "healthzBindAddress": f"{self.address}:{KUBE_PROXY_HEALTHZ_PORT}",
            "metricsBindAddress": f"{self.address}:{KUBE_PROXY_METRICS_PORT}",
            "clusterCIDR": self.cluster_cidr,
            "nodePortAddresses": [f"{self.address}/32"],
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
            "iptables": {"masqueradeAll": False, "syncPeriod": "30s", "minSyncPeriod": "0s"},
        }

    def write_config(self) -> Path:
        path = self.layout.kube_proxy_config
        temporary = path.with_suffix(".tmp")
        temporary.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        temporary.replace(path)
        return path

    def argv(self) -> list[str]:
        return [str(self.binary), f"--config={self.layout.kube_proxy_config}", "--v=1"]

    @property
    def healthz_url(self) -> str:
        return f"http://{self.address}:{KUBE_PROXY_HEALTHZ_PORT}/healthz"
