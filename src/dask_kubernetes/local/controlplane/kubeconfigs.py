"""Kubeconfigs for the plane's identities (client certificate or bearer token), written 0600."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from dask_kubernetes.common.files import write_private
from dask_kubernetes.local.controlplane.pki import Pair


def _write(path: Path, server: str, ca: Path, user: dict[str, str], *, name: str) -> Path:
    """One cluster, one user, one context, all called `name`; private: it holds a credential."""
    config: dict[str, Any] = {
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
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }
    write_private(path, yaml.safe_dump(config, sort_keys=False))
    return path


def client_kubeconfig(path: Path, server: str, ca: Path, client: Pair, *, name: str) -> Path:
    """A kubeconfig for `server` (verified against `ca`) as the identity in `client`'s cert."""
    user = {
        "client-certificate-data": base64.b64encode(client.cert.read_bytes()).decode(),
        "client-key-data": base64.b64encode(client.key.read_bytes()).decode(),
    }
    return _write(path, server, ca, user, name=name)


def token_kubeconfig(path: Path, server: str, ca: Path, token: str, *, name: str) -> Path:
    """A kubeconfig for `server` (verified against `ca`) that authenticates with `token` only."""
    return _write(path, server, ca, {"token": token}, name=name)
