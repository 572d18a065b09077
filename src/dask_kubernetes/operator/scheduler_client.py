"""The one module that talks to a Dask scheduler.

It uses the scheduler's JSON HTTP API (`distributed.http.scheduler.api`, enabled on the scheduler
Pods the operator builds) rather than the comm RPC: plain JSON has no pickle/msgpack coupling
between the operator's and the scheduler's `distributed` versions, and HTTP can be carried by the
API server's `services/proxy` when the operator runs outside the cluster, with no port-forward.
In-cluster it connects to the Service's cluster DNS name directly.

Every request carries the cluster's API token (`dask_tls.api_token`): a TLS cluster's scheduler
refuses the API without it; another ignores the header.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from yarl import URL

from dask_kubernetes.operator import dask_tls
from dask_kubernetes.operator.rest import Kube
from dask_kubernetes.operator.vocabulary import (
    DASHBOARD_PORT,
    DASHBOARD_PORT_NAME,
    SCHEDULER_API_TOKEN_HEADER,
    check_cluster_name,
    check_label,
    scheduler_host,
    scheduler_name,
)

#: `proxy` (through the API server) or `direct` (cluster DNS); default: direct when in a cluster.
ACCESS_ENV = "DASK_KUBERNETES_OPERATOR_SCHEDULER_ACCESS"


class SchedulerUnavailable(Exception):
    """The scheduler could not be asked (not running yet, or the API route is off)."""


@dataclass(frozen=True)
class SchedulerWorker:
    name: str
    address: str


class _Transport(Protocol):
    async def call(self, method: str, path: str, payload: Any = None) -> Any: ...


def _token_headers(token: str | None) -> dict[str, str]:
    return {SCHEDULER_API_TOKEN_HEADER: token} if token else {}


class _ProxyTransport:
    def __init__(self, kube: Kube, namespace: str, service: str, token: str | None) -> None:
        self._kube, self._namespace, self._service = kube, namespace, service
        self._headers = _token_headers(token)

    async def call(self, method: str, path: str, payload: Any = None) -> Any:
        return await self._kube.proxy(
            method,
            self._namespace,
            self._service,
            DASHBOARD_PORT_NAME,
            path,
            payload,
            headers=self._headers,
        )


class _DirectTransport:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers = _token_headers(token)

    async def call(self, method: str, path: str, payload: Any = None) -> Any:
        async with (
            aiohttp.ClientSession(timeout=self._timeout) as session,
            session.request(
                method, f"{self._base}{path}", json=payload, headers=self._headers
            ) as response,
        ):
            response.raise_for_status()
            return await response.json(content_type=None)


def scheduler_dashboard_url(namespace: str, cluster: str) -> URL:
    """`http://<cluster>-scheduler.<namespace>.svc.cluster.local:8787`, from checked names."""
    host = scheduler_host(check_cluster_name(cluster), check_label(namespace, "namespace"))
    return URL.build(scheme="http", host=host, port=DASHBOARD_PORT)


def _use_proxy() -> bool:
    access = os.environ.get(ACCESS_ENV, "")
    if access in ("proxy", "direct"):
        return access == "proxy"
    return "KUBERNETES_SERVICE_HOST" not in os.environ


class SchedulerClient:
    """Retire workers, read the adaptive target and the worker list of one cluster's scheduler."""

    def __init__(self, transport: _Transport) -> None:
        self._transport = transport

    @classmethod
    def for_cluster(
        cls, kube: Kube, namespace: str, cluster: str, uid: str | None = None
    ) -> SchedulerClient:
        """The scheduler of DaskCluster `cluster` (uid `uid`) in `namespace`, and nothing else.

        Both names are checked first (`InvalidName`), so a name from a custom resource can
        neither pick another host (`evil:80/`) nor another namespace (`../`).
        """
        service = scheduler_name(check_cluster_name(cluster))
        namespace = check_label(namespace, "namespace")
        token = (
            dask_tls.api_token(dask_tls.operator_key(), namespace, cluster, uid) if uid else None
        )
        if _use_proxy():
            return cls(_ProxyTransport(kube, namespace, service, token))
        return cls.at_url(str(scheduler_dashboard_url(namespace, cluster)), token)

    @classmethod
    def at_url(cls, dashboard_url: str, token: str | None = None) -> SchedulerClient:
        """Talk to a scheduler's dashboard port directly (in-cluster, or a local scheduler)."""
        return cls(_DirectTransport(dashboard_url, token))

    async def _call(self, method: str, path: str, payload: Any = None) -> Any:
        try:
            return await self._transport.call(method, path, payload)
        except Exception as exc:  # any transport failure means "not reachable"
            raise SchedulerUnavailable(f"{method} {path}: {exc}") from exc

    async def workers(self) -> list[SchedulerWorker]:
        body = await self._call("GET", "/api/v1/get_workers")
        return [SchedulerWorker(str(w["name"]), str(w["address"])) for w in body["workers"]]

    async def retire(
        self, *, n: int = 0, addresses: list[str] | None = None
    ) -> list[SchedulerWorker]:
        """Retire `n` workers of the scheduler's choosing, or these addresses; return them.

        The scheduler copies every result held only by a retiring worker elsewhere first.
        """
        payload: dict[str, Any] = {"n": n} if n else {"workers": addresses or []}
        body = await self._call("POST", "/api/v1/retire_workers", payload)
        if not isinstance(body, dict):
            raise SchedulerUnavailable(f"unexpected retire_workers reply: {body!r}")
        return [
            SchedulerWorker(str(info.get("name", address)), str(address))
            for address, info in body.items()
        ]

    async def adaptive_target(self) -> int:
        body = await self._call("GET", "/api/v1/adaptive_target")
        return int(body["workers"])

    async def idle_since(self) -> float | None:
        body = await self._call("GET", "/api/v1/check_idle")
        value = body.get("idle_since")
        return None if value is None else float(value)
