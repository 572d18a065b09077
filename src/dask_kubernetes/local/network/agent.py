"""The emulator's network agent: kube-proxy, the endpoints and the service-LB controllers.

A component of its own next to the node agent (composed in `cluster.py`), with its own API client
and identity (`system:kube-proxy`), so the kubelet only runs pods. It watches Services and pods
and hands them to `ServiceNetwork`, which recomputes everything on each change; a periodic pass
repairs what a failed step left. On the real plane only kube-proxy's part runs (`proxy.py`): the
real controllers write the endpoints there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from dask_kubernetes.local.client.api_client import ApiClient
from dask_kubernetes.local.client.informer import Informer
from dask_kubernetes.local.network.service_network import ServiceNetwork

PROXY_USER = "system:kube-proxy"
_RESYNC_SECONDS = 2.0


class NetworkAgent:
    """`await start()` / `await stop()`; `stop()` closes every forwarder."""

    def __init__(
        self,
        api_url: str,
        *,
        token: str,
        ca_pem: bytes | None,
        dns_path: Path,
        load_balancer_cidr: str,
    ) -> None:
        self.client = ApiClient(api_url, token=token, ca_pem=ca_pem)
        self.services = Informer(self.client, "/api/v1/services", self._changed)
        self.pods = Informer(self.client, "/api/v1/pods", self._changed)
        self.network = ServiceNetwork(
            self.client,
            lambda: self.services.objects,
            lambda: self.pods.objects,
            dns_path=dns_path,
            load_balancer_cidr=load_balancer_cidr,
        )
        self._tasks: list[asyncio.Task[None]] = []

    def _changed(self, _kind: str, _obj: dict[str, Any]) -> None:
        self.network.changed()

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(_RESYNC_SECONDS)
            self.network.changed()

    async def start(self, timeout: float = 30.0) -> None:
        for coro in (
            self.services.run(),
            self.pods.run(),
            self.network.run(),
            self._resync_loop(),
        ):
            self._tasks.append(asyncio.create_task(coro))
        await asyncio.wait_for(
            asyncio.gather(self.services.synced.wait(), self.pods.synced.wait()), timeout
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.network.stop()
        await self.client.close()
