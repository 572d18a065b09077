"""Write a kubeconfig for the stand-in without clobbering anybody else's contexts: the one
kubeconfig writer of `local/`, for the emulator's tokens and the real plane's certificates alike.

If the target file exists, only our own cluster/user/context entries are replaced; every other entry
stays, so `--kubeconfig ~/.kube/config` adds a context instead of destroying the user's setup.

The file carries the bearer token (whoever reads it can run code as the stand-in's user), so it is
written with mode 0600, and never into a directory other users can write to (they could swap it).
"""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import yaml

from dask_kubernetes.common.files import write_private
from dask_kubernetes.common.standin_marks import CONTEXT_NAME as CONTEXT_NAME
from dask_kubernetes.common.yaml import InvalidYaml, NotAMapping, load_mapping
from dask_kubernetes.local.credentials.pki import Pair


class KubeconfigError(Exception):
    """The existing kubeconfig cannot be merged into (e.g. it is not a kubeconfig)."""


def _replace_named(entries: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("name") != entry["name"]] + [entry]


def _load_existing(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    if not path.read_text(encoding="utf-8").strip():
        return {}
    try:
        loaded = load_mapping(path)
    except InvalidYaml as exc:
        raise KubeconfigError(str(exc)) from None
    except NotAMapping:
        raise KubeconfigError(f"{path} is not a kubeconfig (top level is not a mapping)") from None
    return loaded


def merged_kubeconfig(
    existing: dict[str, Any],
    server_url: str,
    credentials: dict[str, str],
    *,
    ca_pem: bytes | None,
    name: str,
    namespace: str,
) -> dict[str, Any]:
    """Return `existing` with our cluster, user (`credentials`) and context added (replacing
    only ours)."""
    config = dict(existing)
    config.setdefault("apiVersion", "v1")
    config.setdefault("kind", "Config")
    config.setdefault("preferences", {})
    server: dict[str, str] = {"server": server_url}
    if ca_pem is not None:
        server["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    cluster = {"name": name, "cluster": server}
    user = {"name": name, "user": credentials}
    context = {"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}
    config["clusters"] = _replace_named(list(config.get("clusters") or []), cluster)
    config["users"] = _replace_named(list(config.get("users") or []), user)
    config["contexts"] = _replace_named(list(config.get("contexts") or []), context)
    # Like kind: the new cluster becomes current; other contexts stay untouched.
    config["current-context"] = name
    return config


def _refuse_shared_directory(directory: Path) -> None:
    mode = directory.stat().st_mode
    if mode & stat.S_IWOTH:
        raise KubeconfigError(
            f"{directory} is writable by every user; put the kubeconfig (it holds the access "
            "token) in a private directory"
        )


def write_kubeconfig(
    path: Path,
    server_url: str,
    *,
    token: str | None = None,
    ca_pem: bytes | None = None,
    name: str = CONTEXT_NAME,
    namespace: str = "default",
    client_certificate: tuple[bytes, bytes] | None = None,
) -> Path:
    """Merge our context into the kubeconfig at `path` atomically (mode 0600); return the path."""
    path = Path(path).expanduser()
    credentials: dict[str, str] = {"token": token} if token else {}
    if client_certificate is not None:  # the real control plane: a client certificate and key
        credentials["client-certificate-data"] = base64.b64encode(client_certificate[0]).decode()
        credentials["client-key-data"] = base64.b64encode(client_certificate[1]).decode()
    config = merged_kubeconfig(
        _load_existing(path), server_url, credentials, ca_pem=ca_pem, name=name, namespace=namespace
    )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _refuse_shared_directory(path.parent)
    write_private(path, yaml.safe_dump(config, sort_keys=False))
    return path


def remove_from_kubeconfig(path: Path, *, name: str = CONTEXT_NAME) -> None:
    """Drop our entries again (used on stop for kubeconfigs we merged into)."""
    path = Path(path)
    config = _load_existing(path)
    if not config:
        return
    for key in ("clusters", "users", "contexts"):
        config[key] = [e for e in config.get(key) or [] if e.get("name") != name]
    if config.get("current-context") == name:
        remaining = [c["name"] for c in config["contexts"] if "name" in c]
        config["current-context"] = remaining[0] if remaining else ""
    write_private(path, yaml.safe_dump(config, sort_keys=False))


def client_kubeconfig(path: Path, server: str, ca: Path, client: Pair, *, name: str) -> Path:
    """A kubeconfig for `server` (verified against the CA file `ca`) as the identity in
    `client`'s certificate: how the real plane's components and admin authenticate."""
    return write_kubeconfig(
        path, server, ca_pem=ca.read_bytes(), client_certificate=client.read(), name=name
    )


def token_kubeconfig(path: Path, server: str, ca: Path, token: str, *, name: str) -> Path:
    """A kubeconfig for `server` (verified against the CA file `ca`) that authenticates with
    `token` only, e.g. a ServiceAccount's bound token for the operator."""
    return write_kubeconfig(path, server, ca_pem=ca.read_bytes(), token=token, name=name)


class AdminKubeconfig:
    """The kubeconfig a composition (emulated or real) gives its caller: a file of its own, or
    (`merge`) our context merged into the caller's file and removed from it again on `remove`."""

    def __init__(self, path: Path, *, merge: bool) -> None:
        self.path = path
        self.merge = merge
        self._written = False

    def write(
        self,
        server_url: str,
        *,
        ca_pem: bytes | None,
        token: str | None = None,
        client_certificate: tuple[bytes, bytes] | None = None,
    ) -> Path:
        written = write_kubeconfig(
            self.path,
            server_url,
            token=token,
            ca_pem=ca_pem,
            client_certificate=client_certificate,
        )
        self._written = True
        return written

    def remove(self) -> None:
        """Take our entries out of a merged file (a file of our own goes with the state dir)."""
        if self.merge and self._written:
            self._written = False
            remove_from_kubeconfig(self.path)
