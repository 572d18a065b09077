"""kube-proxy, the endpoints controller and the service load-balancer controller, in one loop.

From the watched Services and pods it keeps: a TCP forwarder on each Service's cluster IP and port
(and on its load-balancer ingress IP), the Endpoints objects, the LoadBalancer ingress in Service
status, and the DNS hosts map for pod start-up hooks. Everything is recomputed from the watched
state on each change, so a missed or failed step is repaired on the next pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dask_kubernetes.common.pods import serves_traffic
from dask_kubernetes.local.client.api_client import (
    MERGE_PATCH,
    ApiClient,
    ApiError,
    resource_path,
)
from dask_kubernetes.local.network.dns_map import hosts_for_services, write_dns_map
from dask_kubernetes.local.network.endpoints import (
    Backend,
    backends,
    endpoints_subsets,
    selects,
)
from dask_kubernetes.local.network.forwarder import TcpForwarder
from dask_kubernetes.local.network.ip_pool import AddressPool
from dask_kubernetes.local.network.passes import run_passes

logger = logging.getLogger(__name__)

ForwardKey = tuple[str, int]  # (listen ip, port)


class ServiceNetwork:
    """Reconciles Service networking whenever `changed()` is called."""

    def __init__(
        self,
        client: ApiClient,
        services: Callable[[], dict[str, dict[str, Any]]],
        pods: Callable[[], dict[str, dict[str, Any]]],
        *,
        dns_path: Path,
        load_balancer_cidr: str,
    ) -> None:
        self.client = client
        self._services = services
        self._pods = pods
        self.dns_path = dns_path
        self.lb_pool = AddressPool(load_balancer_cidr)
        self.forwarders: dict[ForwardKey, TcpForwarder] = {}
        self._draining: set[TcpForwarder] = set()
        self._routes: dict[ForwardKey, tuple[str, dict[str, Any]]] = {}
        self._round_robin: dict[ForwardKey, itertools.count[int]] = {}
        self._written_endpoints: dict[str, list[dict[str, Any]]] = {}
        self._hosts: dict[str, list[str]] | None = None
        self._wakeup = asyncio.Event()
        self.passes = 0

    def changed(self) -> None:
        self._wakeup.set()

    def choose_backend(self, key: ForwardKey) -> Backend | None:
        route = self._routes.get(key)
        if route is None:
            return None
        service_key, service_port = route
        service = self._services().get(service_key)
        if service is None:
            return None
        found = backends(service, service_port, self._pods().values())
        if not found:
            return None
        return found[next(self._round_robin.setdefault(key, itertools.count())) % len(found)]

    def _desired_routes(self) -> dict[ForwardKey, tuple[str, dict[str, Any]]]:
        routes: dict[ForwardKey, tuple[str, dict[str, Any]]] = {}
        for key, service in list(self._services().items()):  # the informer updates it meanwhile
            spec = service.get("spec") or {}
            ips = []
            if spec.get("clusterIP") and spec["clusterIP"] != "None":
                ips.append(spec["clusterIP"])
            if spec.get("type") == "LoadBalancer":
                ips.append(self.lb_pool.allocate(key))
            for port in spec.get("ports") or []:
                if str(port.get("protocol", "TCP")) == "TCP":
                    for ip in ips:
                        routes[(ip, int(port["port"]))] = (key, port)
        return routes

    async def _sync_forwarders(self) -> None:
        """Listen exactly on the routes that have a ready backend.

        Without one nothing listens, so clients get "connection refused" and retry, as they do
        when kube-proxy rejects traffic to a Service without endpoints.
        """
        self._routes = self._desired_routes()
        pods = list(self._pods().values())
        services = self._services()
        served = {
            key
            for key, (service_key, port) in self._routes.items()
            if service_key in services and backends(services[service_key], port, pods)
        }
        for key in set(self.forwarders) - served:
            draining = self.forwarders.pop(key)
            draining.stop_listening()
            self._draining.add(draining)
        self._draining = {f for f in self._draining if f.open_connections}
        for key in served - set(self.forwarders):
            forwarder = TcpForwarder(key[0], key[1], functools.partial(self.choose_backend, key))
            try:
                await forwarder.start()
            except OSError as exc:
                logger.warning("cannot forward %s:%s: %s", key[0], key[1], exc)
                continue
            self.forwarders[key] = forwarder
        balanced = {
            key
            for key, service in self._services().items()
            if (service.get("spec") or {}).get("type") == "LoadBalancer"
        }
        for owner in self.lb_pool.owners() - balanced:
            self.lb_pool.release(owner)

    async def _sync_load_balancers(self) -> None:
        for key, service in list(self._services().items()):  # the informer updates it meanwhile
            if (service.get("spec") or {}).get("type") != "LoadBalancer":
                continue
            ingress = [{"ip": self.lb_pool.allocate(key), "ipMode": "VIP"}]
            current = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress")
            if current != ingress:
                meta = service["metadata"]
                path = resource_path(
                    "services", meta["name"], namespace=meta["namespace"], subresource="status"
                )
                body = {"status": {"loadBalancer": {"ingress": ingress}}}
                with contextlib.suppress(ApiError):
                    await self.client.request(
                        "PATCH", path, body=body, content_type=MERGE_PATCH, retry_conflict=True
                    )

    async def _sync_endpoints(self) -> None:
        pods = list(self._pods().values())
        for key, service in list(self._services().items()):  # the informer updates it meanwhile
            if not (service.get("spec") or {}).get("selector"):
                continue  # Selector-less Services have user-managed Endpoints.
            subsets = endpoints_subsets(service, pods)
            if self._written_endpoints.get(key) == subsets:
                continue
            meta = service["metadata"]
            body = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "labels": meta.get("labels") or {},
                },
                "subsets": subsets,
            }
            try:
                await self.client.patch_or_create(
                    resource_path("endpoints", meta["name"], namespace=meta["namespace"]),
                    {"subsets": subsets},
                    resource_path("endpoints", namespace=meta["namespace"]),
                    body,
                )
            except ApiError as exc:
                logger.debug("endpoints %s: %s", key, exc)
                continue
            self._written_endpoints[key] = subsets
        for key in set(self._written_endpoints) - set(self._services()):
            del self._written_endpoints[key]

    def _sync_dns(self) -> None:
        ready: dict[str, list[str]] = {}
        pods = list(self._pods().values())
        for key, service in list(self._services().items()):  # the informer updates it meanwhile
            ready[key] = sorted(
                str(p["status"]["podIP"]) for p in pods if selects(service, p) and serves_traffic(p)
            )
        hosts = hosts_for_services(self._services().values(), ready)
        if hosts != self._hosts:
            write_dns_map(self.dns_path, hosts)
            self._hosts = hosts

    async def reconcile(self) -> None:
        self._sync_dns()
        await self._sync_forwarders()
        await self._sync_load_balancers()
        await self._sync_endpoints()
        self.passes += 1

    async def run(self) -> None:
        await run_passes(self._wakeup, self.reconcile, "service network", logger)

    async def stop(self) -> None:
        for forwarder in [*self.forwarders.values(), *self._draining]:
            await forwarder.stop()
        self.forwarders.clear()
        self._draining.clear()
