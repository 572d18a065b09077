"""This kubelet as a Node of a real control plane: its Node object and its Lease heartbeat.

A real node registers a Node with capacity, allocatable, conditions, addresses and the kubelet
endpoint the API server calls, then renews a Lease in `kube-node-lease` every 10 s; the node
lifecycle controller marks a node whose Lease goes stale NotReady and taints it, so the heartbeat
is what keeps the scheduler placing pods here. NodeRestriction lets a node write only its own Node
and Lease, which is all this does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
from typing import Any

from dask_kubernetes.common import clock
from dask_kubernetes.local.client.api_client import (
    MERGE_PATCH,
    ApiClient,
    ApiError,
    resource_path,
)

logger = logging.getLogger(__name__)

_COORDINATION = "/apis/coordination.k8s.io/v1"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40
RENEW_SECONDS = 10.0
MAX_PODS = 110
KUBELET_VERSION = "v1.37.2"  # what the plane is built from; `kubectl get nodes` shows it


def _memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def conditions() -> list[dict[str, Any]]:
    now = clock.now()

    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }

    return [
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "no memory pressure"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk pressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "enough PIDs"),
        condition("Ready", "True", "KubeletReady", "the process kubelet is running pods"),
    ]


def node_info() -> dict[str, str]:
    """`status.nodeInfo`: `kubectl get nodes` shows its kubeletVersion (VERSION), `-o wide` the
    OS image, kernel and container runtime."""
    return {
        "machineID": "",
        "systemUUID": "",
        "bootID": "",
        "kernelVersion": platform.release(),
        "osImage": "dask-kubernetes local node",
        "containerRuntimeVersion": "process://1",
        "kubeletVersion": KUBELET_VERSION,
        "kubeProxyVersion": "",
        "operatingSystem": "linux",
        "architecture": "amd64" if platform.machine() == "x86_64" else "arm64",
    }


def node_addresses(name: str, address: str, external: str | None) -> list[dict[str, str]]:
    """InternalIP for the API server (its --kubelet-preferred-address-types), ExternalIP for
    clients outside the node, e.g. KubeCluster dialling a node port from the host."""
    addresses = [{"type": "InternalIP", "address": address}]
    if external is not None:
        addresses.append({"type": "ExternalIP", "address": external})
    return [*addresses, {"type": "Hostname", "address": name}]


def node_object(
    name: str, address: str, kubelet_port: int, external_address: str | None = None
) -> dict[str, Any]:
    capacity = {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{_memory_bytes() // 1024}Ki",
        "pods": str(MAX_PODS),
        "ephemeral-storage": "100Gi",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64" if platform.machine() == "x86_64" else "arm64",
            },
        },
        "spec": {},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": conditions(),
            "addresses": node_addresses(name, address, external_address),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "nodeInfo": node_info(),
        },
    }


async def register(client: ApiClient, node: dict[str, Any]) -> None:
    """Register `node` as a kubelet does: create the Node (one an earlier run left stays, with
    its cordon), then set its status (`node["status"]`: conditions, addresses, nodeInfo...)."""
    await client.create("/api/v1/nodes", node, exist_ok=True)
    await client.request(
        "PATCH",
        resource_path("nodes", node["metadata"]["name"], subresource="status"),
        body={"status": node["status"]},
        content_type=MERGE_PATCH,
        retry_conflict=True,
    )


class NodeHeartbeat:
    """Registers the Node, then keeps its Lease (and, less often, its Ready condition) fresh."""

    def __init__(
        self,
        client: ApiClient,
        name: str,
        address: str,
        kubelet_port: int,
        external_address: str | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self.address = address
        self.external_address = external_address
        self.kubelet_port = kubelet_port
        self.renewals = 0

    async def register(self) -> None:
        node = node_object(self.name, self.address, self.kubelet_port, self.external_address)
        await register(self.client, node)
        await self.renew()

    async def renew(self) -> None:
        def lease_path(name: str | None = None) -> str:
            return resource_path("leases", name, namespace=LEASE_NAMESPACE, api=_COORDINATION)

        spec = {
            "holderIdentity": self.name,
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": clock.micro_now(),
        }
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": LEASE_NAMESPACE},
            "spec": spec,
        }
        await self.client.patch_or_create(
            lease_path(self.name), {"spec": spec}, lease_path(), lease
        )
        self.renewals += 1

    async def run(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                await self.renew()
            except (ApiError, OSError, asyncio.TimeoutError) as exc:
                logger.warning("lease of node %s: %s", self.name, exc)
