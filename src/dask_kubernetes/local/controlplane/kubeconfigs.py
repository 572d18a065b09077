"""Kubeconfigs that authenticate with a client certificate, written 0600 and atomically."""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path

import yaml

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
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600: the key inside is never readable by anyone else.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
