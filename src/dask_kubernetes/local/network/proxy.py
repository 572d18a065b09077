"""kube-proxy for a node of the real control plane: ClusterIP:port → ready EndpointSlice endpoints.

On the real plane the real EndpointSlice controller writes the endpoints, so only the forwarding
is ours (on the emulator `service_network.py` also plays the endpoints and service-LB
controllers). It authenticates as `system:kube-proxy`, which the default `system:node-proxier`
binding lets list and watch Services and EndpointSlices, and nothing more. It also keeps the DNS
hosts map the pods' start-up hook reads (cluster DNS stays a hook: all pods share one namespace).

Node ports listen on the host's 127.0.0.1 (the node's ExternalIP), not on the node address: that
exists only inside the namespace, and a host connection to it would head for the default gateway.
The listening socket is made in the host namespace, the backend connections from inside.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dask_kubernetes.local.client.api_client import ApiClient
from dask_kubernetes.local.client.informer import Informer
from dask_kubernetes.local.network.dns_map import hosts_for_services, write_dns_map
from dask_kubernetes.local.network.forwarder import Backend, TcpForwarder
from dask_kubernetes.local.network.netns import HOST_ADDRESS
from dask_kubernetes.local.network.passes import run_passes

logger = logging.getLogger(__name__)

SLICES = "/apis/discovery.k8s.io/v1/endpointslices"
SERVICE_LABEL = "kubernetes.io/service-name"
ForwardKey = tuple[str, int]  # (cluster ip, port) or (HOST_ADDRESS, node port)
HostListener = Callable[[str, int], socket.socket]


def slice_backends(slices: list[dict[str, Any]], service_port: dict[str, Any]) -> list[Backend]:
    """Ready endpoints' (IP, port) for one Service port, matched by port name as kube-proxy does."""
    wanted = service_port.get("name") or ""
    found: list[Backend] = []
    for endpoint_slice in slices:
        port = next(
            (p for p in endpoint_slice.get("ports") or [] if (p.get("name") or "") == wanted),
            None,
        )
        if port is None or port.get("port") is None:
            continue
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            found.extend((address, int(port["port"])) for address in endpoint["addresses"])
    return sorted(set(found))


def ready_addresses(slices: list[dict[str, Any]]) -> list[str]:
    """Ready endpoint IPs (what a headless Service's DNS name resolves to)."""
    return sorted(
        {
            address
            for endpoint_slice in slices
            for endpoint in endpoint_slice.get("endpoints") or []
            if (endpoint.get("conditions") or {}).get("ready") is not False
            for address in endpoint["addresses"]
        }
    )


class ServiceProxy:
    """`await start()` / `await stop()`; reconciles listeners on every Service/slice change."""

    def __init__(
        self,
        api_url: str,
        *,
        ca_pem: bytes,
        client_cert: tuple[Path, Path],
        dns_path: Path,
        listen_on_host: HostListener | None = None,
    ) -> None:
        self.client = ApiClient(api_url, ca_pem=ca_pem, client_cert=client_cert)
        self.dns_path = dns_path
        # Makes node ports' listening sockets in the host namespace; None: no node ports.
        self.listen_on_host = listen_on_host
        self.services = Informer(self.client, "/api/v1/services", self._changed)
        self.slices = Informer(self.client, SLICES, self._changed)
        self.forwarders: dict[ForwardKey, TcpForwarder] = {}
        self._round_robin: dict[ForwardKey, itertools.count[int]] = {}
        self._hosts: dict[str, list[str]] | None = None
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def _changed(self, _kind: str, _obj: dict[str, Any]) -> None:
        self._wakeup.set()

    def _slices_of(self, service_key: str) -> list[dict[str, Any]]:
        namespace, name = service_key.split("/", 1)
        return [
            s
            for s in self.slices.objects.values()
            if s["metadata"]["namespace"] == namespace
            and (s["metadata"].get("labels") or {}).get(SERVICE_LABEL) == name
        ]

    def _routes(self) -> dict[ForwardKey, list[Backend]]:
        routes: dict[ForwardKey, list[Backend]] = {}
        for key, service in list(self.services.objects.items()):
            spec = service.get("spec") or {}
            ip = spec.get("clusterIP")
            if not ip or ip == "None":
                continue
            slices = self._slices_of(key)
            for port in spec.get("ports") or []:
                if str(port.get("protocol", "TCP")) == "TCP":
                    found = slice_backends(slices, port)
                    if found:
                        routes[(ip, int(port["port"]))] = found
                        if port.get("nodePort") and self.listen_on_host is not None:
                            routes[(HOST_ADDRESS, int(port["nodePort"]))] = found
        return routes

    def choose(self, key: ForwardKey) -> Backend | None:
        found = self._routes().get(key)
        if not found:
            return None
        return found[next(self._round_robin.setdefault(key, itertools.count())) % len(found)]

    def _forwarder(self, key: ForwardKey) -> TcpForwarder:
        choose = functools.partial(self.choose, key)
        if key[0] == HOST_ADDRESS and self.listen_on_host is not None:
            return TcpForwarder(*key, choose, sock=self.listen_on_host(*key))
        return TcpForwarder(*key, choose)

    async def reconcile(self) -> None:
        routes = self._routes()
        for key in set(self.forwarders) - set(routes):
            await self.forwarders.pop(key).stop()
        for key in set(routes) - set(self.forwarders):
            try:
                forwarder = self._forwarder(key)
                await forwarder.start()
            except OSError as exc:
                logger.warning("cannot forward %s:%s: %s", key[0], key[1], exc)
                continue
            self.forwarders[key] = forwarder
        ready = {key: ready_addresses(self._slices_of(key)) for key in self.services.objects}
        hosts = hosts_for_services(list(self.services.objects.values()), ready)
        if hosts != self._hosts:
            write_dns_map(self.dns_path, hosts)
            self._hosts = hosts

    async def _run(self) -> None:
        await run_passes(self._wakeup, self.reconcile, "service proxy", logger)

    async def start(self, timeout: float = 30.0) -> None:
        self.dns_path.parent.mkdir(parents=True, exist_ok=True)
        for coro in (self.services.run(), self.slices.run(), self._run()):
            self._tasks.append(asyncio.create_task(coro))
        await asyncio.wait_for(
            asyncio.gather(self.services.synced.wait(), self.slices.synced.wait()), timeout
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for forwarder in self.forwarders.values():
            with contextlib.suppress(OSError):
                await forwarder.stop()
        self.forwarders.clear()
        await self.client.close()
