"""Kubeconfigs that authenticate with a client certificate, written 0600 and atomically."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from dask_kubernetes.common.files import write_private
from dask_kubernetes.local.controlplane.pki import Pair


def client_kubeconfig(path: Path, server: str, ca: Path, client: Pair, *, name: str) -> Path:
    """A kubeconfig for `server` (verified against `ca`) as the identity in `client`'s cert."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode(),
                },
            }
        ],
        "users": [
            {
                "name": name,
                "user": {
                    "client-certificate-data": base64.b64encode(client.cert.read_bytes()).decode(),
                    "client-key-data": base64.b64encode(client.key.read_bytes()).decode(),
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }
    write_private(path, yaml.safe_dump(config, sort_keys=False))
    return path
