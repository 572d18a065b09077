"""kube-controller-manager for the plane: its own identity and kubeconfig, serving on loopback.

No cloud provider is configured (the cloud controllers do not run), leader election is off (one
instance), and it signs service-account tokens with the plane's key and CSRs with the plane's CA.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dask_kubernetes.local.controlplane.pki import Pair
from dask_kubernetes.local.controlplane.process import LOOPBACK, free_port


@dataclass
class ControllerManager:
    binary: Path
    kubeconfig: Path
    serving: Pair
    ca: Pair
    service_account_key: Path
    port: int = field(default_factory=free_port)

    @property
    def health_url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}/healthz"

    def argv(self) -> list[str]:
        return [
            str(self.binary),
            f"--kubeconfig={self.kubeconfig}",
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={self.port}",
            f"--tls-cert-file={self.serving.cert}",
            f"--tls-private-key-file={self.serving.key}",
            f"--root-ca-file={self.ca.cert}",
            f"--cluster-signing-cert-file={self.ca.cert}",
            f"--cluster-signing-key-file={self.ca.key}",
            f"--service-account-private-key-file={self.service_account_key}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
            "--profiling=false",
        ]
