"""The start-up hook the kubelet injects into Python pod processes (as `sitecustomize`).

Pods share the host's network stack, so the hook gives each pod the view a real one has: cluster DNS
names resolve to Service cluster IPs (from the kubelet's `dns.json`), wildcard binds land on the pod
IP (two pods can both listen on 8786), "which address reaches the internet" tricks such as
`distributed.utils.get_ip` answer the pod IP, and the hostname is the pod's. Only the standard
library may be used here: this runs before anything else in every Python process of every pod.
Non-Python programs get the same environment variables but none of this.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

POD_IP = "DASK_K8S_LOCAL_POD_IP"
NAMESPACE = "DASK_K8S_LOCAL_NAMESPACE"
DNS_FILE = "DASK_K8S_LOCAL_DNS"
HOSTNAME = "DASK_K8S_LOCAL_HOSTNAME"
HOOK_DIR = "DASK_K8S_LOCAL_HOOK_DIR"

_WILDCARDS = {None, "", "0.0.0.0", "::", "::0"}  # noqa: S104 - we narrow these to the pod IP


class ClusterDNS:
    """Cluster DNS names from the kubelet's hosts map, re-read when the file changes."""

    def __init__(self, path: str, namespace: str) -> None:
        self.path = path
        self.namespace = namespace
        self._mtime = -1.0
        self._hosts: dict[str, list[str]] = {}

    def _load(self) -> dict[str, list[str]]:
        try:
            mtime = Path(self.path).stat().st_mtime
        except OSError:
            return self._hosts
        if mtime != self._mtime:
            try:
                with Path(self.path).open() as handle:
                    self._hosts = dict(json.load(handle).get("hosts", {}))
                self._mtime = mtime
            except (OSError, ValueError):
                pass
        return self._hosts

    def candidates(self, name: str) -> list[str]:
        """Fully qualified names `name` may mean, like the search path of a pod's resolv.conf."""
        name = name.rstrip(".").lower()
        parts = name.split(".")
        found = [name]
        if len(parts) == 1:
            found.append(f"{name}.{self.namespace}.svc.cluster.local")
        elif len(parts) == 2:
            found.append(f"{name}.svc.cluster.local")
        elif len(parts) == 3 and parts[2] == "svc":
            found.append(f"{name}.cluster.local")
        return found

    def resolve(self, name: str) -> list[str] | None:
        hosts = self._load()
        for candidate in self.candidates(name):
            if candidate in hosts:
                return hosts[candidate]
        return None


def install(pod_ip: str, hostname: str, dns: ClusterDNS) -> None:
    """Patch the socket module for this process."""
    real_getaddrinfo = socket.getaddrinfo
    real_bind = socket.socket.bind
    real_connect = socket.socket.connect
    own_names = {hostname.lower(), f"{hostname.lower()}.{dns.namespace}.pod"}

    def lookup(host: str) -> str | None:
        if host.lower() in own_names:
            return pod_ip
        ips = dns.resolve(host)
        return ips[0] if ips else None

    def getaddrinfo(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        if host in _WILDCARDS and (host is not None or flags & socket.AI_PASSIVE):
            if family in (0, socket.AF_INET):
                host, family = pod_ip, socket.AF_INET
        elif isinstance(host, str):
            ip = lookup(host)
            if ip is not None:
                host = ip
                family = socket.AF_INET if family == 0 else family
        return real_getaddrinfo(host, port, family, type, proto, flags)

    def gethostbyname(host: str) -> str:
        ip = lookup(host)
        return ip if ip is not None else real_gethostbyname(host)

    def gethostbyname_ex(host: str) -> tuple[str, list[str], list[str]]:
        ips = [pod_ip] if host.lower() in own_names else dns.resolve(host)
        return (host, [], ips) if ips else real_gethostbyname_ex(host)

    def bind(self: socket.socket, address: Any) -> None:
        if self.family == socket.AF_INET and address[0] in _WILDCARDS:
            address = (pod_ip, address[1])
        real_bind(self, address)

    def connect(self: socket.socket, address: Any) -> None:
        if self.family == socket.AF_INET and isinstance(address, tuple):
            host = address[0]
            if host in _WILDCARDS:
                address = (pod_ip, address[1])
            elif self.type == socket.SOCK_DGRAM and not host.startswith("127."):
                # "Which local address reaches host X": answer the pod IP.
                if self.getsockname()[1] == 0:
                    real_bind(self, (pod_ip, 0))
                address = (pod_ip, address[1])
        real_connect(self, address)

    real_gethostbyname = socket.gethostbyname
    real_gethostbyname_ex = socket.gethostbyname_ex
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.gethostbyname_ex = gethostbyname_ex
    socket.gethostname = lambda: hostname
    socket.socket.bind = bind  # type: ignore[method-assign,assignment]
    socket.socket.connect = connect  # type: ignore[method-assign,assignment]


def _chain_next_sitecustomize(hook_dir: str) -> None:
    """Run the sitecustomize we shadow, if the environment has one."""
    ours = Path(hook_dir).resolve()
    path = [p for p in sys.path if Path(p or ".").resolve() != ours]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


def main() -> None:
    pod_ip = os.environ.get(POD_IP)
    if pod_ip:
        dns = ClusterDNS(os.environ.get(DNS_FILE, ""), os.environ.get(NAMESPACE, "default"))
        install(pod_ip, os.environ.get(HOSTNAME, socket.gethostname()), dns)
    hook_dir = os.environ.get(HOOK_DIR)
    if hook_dir:
        _chain_next_sitecustomize(hook_dir)


if __name__ == "sitecustomize":
    main()
