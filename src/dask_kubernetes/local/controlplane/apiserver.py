"""kube-apiserver for the plane: secure port on 127.0.0.1 only, client certificates, Node+RBAC.

With a node (`address` = the node address inside the cluster's network namespace, see
`network/netns.py`) it listens and advertises there instead, so the `kubernetes` Service gets a
real endpoint, and it calls the kubelet API with a client certificate of its own.

Anonymous requests are refused outright (even /readyz needs a certificate), so every answer the
tests see was authorised by the real RBAC authorizer. The service range 10.96.0.0/12 exists
nowhere on this machine: ClusterIPs are bookkeeping and no packet is ever sent to one. The endpoint
reconciler is off because it would publish 127.0.0.1 as the `kubernetes` Service's endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dask_kubernetes.local.controlplane.process import LOOPBACK, free_port
from dask_kubernetes.local.credentials.pki import Pair

SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/12"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass
class APIServer:
    binary: Path
    etcd_url: str
    etcd_ca: Path
    etcd_client: Pair
    ca: Path
    serving: Pair
    service_account: Pair
    port: int = field(default_factory=free_port)
    address: str = LOOPBACK
    # The client certificate it presents to kubelets (and the CA it verifies them against).
    kubelet_client: Pair | None = None

    @property
    def url(self) -> str:
        return f"https://{self.address}:{self.port}"

    @property
    def health_url(self) -> str:
        return f"{self.url}/readyz"

    def argv(self) -> list[str]:
        return [
            str(self.binary),
            f"--bind-address={self.address}",
            f"--advertise-address={self.address}",
            f"--secure-port={self.port}",
            f"--etcd-servers={self.etcd_url}",
            f"--etcd-cafile={self.etcd_ca}",
            f"--etcd-certfile={self.etcd_client.cert}",
            f"--etcd-keyfile={self.etcd_client.key}",
            f"--tls-cert-file={self.serving.cert}",
            f"--tls-private-key-file={self.serving.key}",
            f"--client-ca-file={self.ca}",
            "--anonymous-auth=false",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={self.service_account.cert}",
            f"--service-account-signing-key-file={self.service_account.key}",
            "--allow-privileged=true",
            "--profiling=false",
            *self._node_flags(),
        ]

    def _node_flags(self) -> list[str]:
        if self.address == LOOPBACK:
            # The lease reconciler would publish 127.0.0.1 as the `kubernetes` Service endpoint.
            return ["--endpoint-reconciler-type=none"]
        flags = []
        if self.kubelet_client is not None:
            flags += [
                f"--kubelet-client-certificate={self.kubelet_client.cert}",
                f"--kubelet-client-key={self.kubelet_client.key}",
                f"--kubelet-certificate-authority={self.ca}",
                "--kubelet-preferred-address-types=InternalIP",
            ]
        return flags
