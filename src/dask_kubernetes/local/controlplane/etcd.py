"""etcd for the plane: one member, loopback only, TLS with client-certificate authentication.

Only holders of a certificate from the plane's etcd CA (the API server) can read or write it, so a
local user who finds the port cannot read Secrets around the API server's authorization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dask_kubernetes.local.controlplane.process import LOOPBACK, free_port
from dask_kubernetes.local.credentials.pki import Pair


@dataclass
class Etcd:
    binary: Path
    data_dir: Path
    ca: Path
    serving: Pair
    client_port: int = field(default_factory=free_port)
    peer_port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.client_port}"

    @property
    def health_url(self) -> str:
        return f"{self.url}/health"

    def argv(self) -> list[str]:
        peer = f"http://{LOOPBACK}:{self.peer_port}"
        return [
            str(self.binary),
            "--name=plane",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.url}",
            f"--advertise-client-urls={self.url}",
            # A single member still listens for peers: keep that on loopback, on a port of its own.
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=plane={peer}",
            "--initial-cluster-state=new",
            f"--cert-file={self.serving.cert}",
            f"--key-file={self.serving.key}",
            f"--trusted-ca-file={self.ca}",
            "--client-cert-auth=true",
            "--log-level=warn",
            # A throwaway data dir: durability buys nothing, fsync costs seconds on a busy disk.
            "--unsafe-no-fsync=true",
        ]
