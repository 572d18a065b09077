"""What the controller manager and the scheduler share: a client of the API server with its own
kubeconfig (for its work and for delegated authn/authz of its own endpoint), serving /healthz on
127.0.0.1 with a certificate from the plane's CA, no leader election, no profiling endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dask_kubernetes.local.controlplane.process import LOOPBACK, free_port
from dask_kubernetes.local.credentials.pki import Pair


@dataclass
class LoopbackComponent:
    binary: Path
    kubeconfig: Path
    serving: Pair
    port: int = field(default_factory=free_port, kw_only=True)

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
            "--leader-elect=false",
            "--profiling=false",
        ]
