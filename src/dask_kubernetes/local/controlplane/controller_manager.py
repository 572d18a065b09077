"""kube-controller-manager for the plane: its own identity and kubeconfig, serving on loopback.

No cloud provider is configured (the cloud controllers do not run), leader election is off (one
instance), and it signs service-account tokens with the plane's key and CSRs with the plane's CA.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dask_kubernetes.local.controlplane.component import LoopbackComponent
from dask_kubernetes.local.credentials.pki import Pair


@dataclass
class ControllerManager(LoopbackComponent):
    ca: Pair
    service_account_key: Path
    # Given: the node IPAM controller hands each Node a spec.podCIDR out of it.
    cluster_cidr: str | None = None

    def argv(self) -> list[str]:
        ipam = (
            [f"--cluster-cidr={self.cluster_cidr}", "--allocate-node-cidrs=true"]
            if self.cluster_cidr
            else []
        )
        return [
            *super().argv(),
            *ipam,
            f"--root-ca-file={self.ca.cert}",
            f"--cluster-signing-cert-file={self.ca.cert}",
            f"--cluster-signing-key-file={self.ca.key}",
            f"--service-account-private-key-file={self.service_account_key}",
            "--use-service-account-credentials=true",
        ]
