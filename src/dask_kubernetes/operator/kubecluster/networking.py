"""Find an address for the scheduler Service that works from where this process runs.

LoadBalancer: its ingress address. NodePort: a node's address and the node port, when the API
lists a node with an address and the Service has a node port (a stand-in or a locked-down
cluster may show neither). Otherwise, as for ClusterIP: the Service's DNS name inside the
cluster, else a port-forward through the API server.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

from distributed.core import rpc
from kr8s.asyncio.objects import Node, Service

from dask_kubernetes.operator.dask_tls import with_scheme
from dask_kubernetes.operator.vocabulary import SCHEDULER_PORT_NAME

from .errors import KubeClusterError, ResourceTimeoutError
from .kr8s_api import Api, get_object, list_objects
from .portforward import ServicePortForwarder

DNS_RETRY_INTERVAL = 0.5
# Reachable from outside first; a hostname last, as it may not resolve off the cluster network.
NODE_ADDRESS_PREFERENCE = ("ExternalIP", "InternalIP", "Hostname")


def running_in_cluster() -> bool:
    """Kubernetes sets this variable in every container; outside a cluster it is absent."""
    return "KUBERNETES_SERVICE_HOST" in os.environ


def service_port(service: Any, port_name: str, *, node_port: bool = False) -> int:
    """The port named `port_name`, else the one named as the Service (the dask/dask chart's
    scheduler port): exact names first, or asking for the chart's webui gave its comm port."""
    for wanted in (port_name, service.metadata.name):
        for port in service.spec.ports:
            if port.get("name") == wanted:
                return int(port["nodePort"] if node_port else port["port"])
    raise KubeClusterError(f"Service {service.metadata.name} has no port named {port_name!r}")


async def resolves(host: str, port: int, retries: int) -> bool:
    """Whether `host` resolves; retried because cluster DNS lags behind new Services."""
    loop = asyncio.get_running_loop()
    for attempt in range(max(retries, 1)):
        try:
            await loop.getaddrinfo(host, port)
            return True
        except socket.gaierror:
            if attempt + 1 < retries:
                await asyncio.sleep(DNS_RETRY_INTERVAL)
    return False


class SchedulerAddressResolver:
    """Addresses of one cluster's scheduler Service ports, port-forwarding when it must."""

    def __init__(
        self,
        api: Api,
        service_name: str,
        namespace: str,
        *,
        port_forward_cluster_ip: bool | None,
        dns_retries: int,
    ) -> None:
        self.api = api
        self.service_name = service_name
        self.namespace = namespace
        self.port_forward_cluster_ip = port_forward_cluster_ip
        self.dns_retries = dns_retries
        self.forwarder: ServicePortForwarder | None = None

    async def address(
        self, port_name: str = SCHEDULER_PORT_NAME, local_port: int | None = None, tls: bool = False
    ) -> str:
        """`tcp://host:port` reaching the named Service port (`tls://` with `tls`)."""
        return with_scheme(await self._address(port_name, local_port), tls)

    async def _address(self, port_name: str, local_port: int | None) -> str:
        service = await get_object(Service, self.service_name, self.namespace, self.api)
        kind = service.spec.get("type", "ClusterIP")
        if kind == "LoadBalancer":
            ingress = service.status.loadBalancer.ingress[0]
            host = ingress.get("hostname") or ingress.get("ip")
            return f"tcp://{host}:{service_port(service, port_name)}"
        if kind == "NodePort" and not running_in_cluster():
            node_address = await self._node_port_address(service, port_name)
            if node_address is not None:
                return node_address
        port = service_port(service, port_name)
        if await self._direct_dns_usable(port):
            return f"tcp://{self.service_name}.{self.namespace}:{port}"
        if self.forwarder is None:
            self.forwarder = ServicePortForwarder(self.service_name, self.namespace)
        local = await self.forwarder.forward(port, local_port)
        return f"tcp://127.0.0.1:{local}"

    async def _node_port_address(self, service: Any, port_name: str) -> str | None:
        """`tcp://node:nodePort`, or None when there is no node address or no node port."""
        try:
            port = service_port(service, port_name, node_port=True)
        except (KeyError, TypeError):  # the Service has no nodePort allocated
            return None
        nodes = await list_objects(Node, None, self.api)
        addresses = [a for node in nodes for a in node.raw.get("status", {}).get("addresses", [])]
        for wanted in NODE_ADDRESS_PREFERENCE:
            for address in addresses:
                if address.get("type") == wanted and address.get("address"):
                    return f"tcp://{address['address']}:{port}"
        return None

    async def _direct_dns_usable(self, port: int) -> bool:
        if self.port_forward_cluster_ip:
            return False
        if self.port_forward_cluster_ip is None and not running_in_cluster():
            return False
        return await resolves(f"{self.service_name}.{self.namespace}", port, self.dns_retries)

    def close(self) -> None:
        if self.forwarder is not None:
            self.forwarder.close()
            self.forwarder = None


async def wait_for_scheduler_comm(
    address: str, timeout: float, connection_args: dict[str, Any] | None = None
) -> None:
    """Wait until the scheduler answers an RPC: the Service exists before it routes anywhere."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            async with rpc(  # type: ignore[no-untyped-call]
                address, timeout=5, connection_args=connection_args or {}
            ) as comm:
                await asyncio.wait_for(comm.versions(), 10)
            return
        except (OSError, asyncio.TimeoutError) as exc:
            last_error = exc
            await asyncio.sleep(0.2)
    raise ResourceTimeoutError(
        f"The scheduler at {address} did not answer within {timeout:g} s ({last_error})"
    )
