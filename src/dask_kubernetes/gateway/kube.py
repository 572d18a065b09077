"""The gateway's Kubernetes client: the operator's checked REST verbs plus a list-then-watch cache.

The backend learns what its clusters are doing by watching the DaskClusters and their scheduler
Pods (one stream each, label-selected to this gateway instance) instead of polling: a change
reaches every gateway replica within a round trip, and an idle gateway costs the API server
one open watch per resource. The verbs are `operator.rest.Kube`'s (checked paths, 404/409
tolerated); the watch streams through the same kr8s session, so credentials (in-cluster
ServiceAccount or KUBECONFIG) are found exactly as the operator finds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import kr8s.asyncio

from dask_kubernetes.operator.rest import Kube

logger = logging.getLogger(__name__)

#: The server ends each watch after this long; it is then resumed from the last version seen.
WATCH_TIMEOUT_SECONDS = 240

Handler = Callable[[str, dict[str, Any]], None]


class GatewayKube(Kube):
    """`Kube` plus `watch` on the same kr8s session."""

    def __init__(self, api: kr8s.asyncio.Api) -> None:
        super().__init__(api)
        self.kr8s = api

    @classmethod
    async def connect(cls) -> GatewayKube:
        base = await Kube.connect()
        return cls(base._api)

    async def create_object(self, path: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Create; return the object as stored (its uid is needed for ownerReferences)."""
        _, body = await self._request("POST", path, content=json.dumps(manifest))
        return dict(body)

    async def list_raw(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        _, body = await self._request("GET", path, params=dict(params))
        return dict(body)

    async def watch(
        self, path: str, resource_version: str, params: Mapping[str, str]
    ) -> AsyncIterator[dict[str, Any]]:
        """The watch events on `path` after `resource_version`, one dict each."""
        base, _, rest = path.lstrip("/").partition("/")
        query = dict(params) | {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(WATCH_TIMEOUT_SECONDS),
        }
        async with self.kr8s.call_api(
            "GET",
            version="",
            base=f"/{base}",
            url=rest,
            params=query,
            stream=True,
            timeout=WATCH_TIMEOUT_SECONDS + 30,
        ) as response:
            async for line in response.aiter_lines():
                if line.strip():
                    yield json.loads(line)


def object_name(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"]["name"])


class Informer:
    """Keeps `.objects` (by name, one namespace) in sync and calls `handler(type, obj)`.

    Lists, then watches from the list's resourceVersion; resumes after a timeout, lists again
    after `410 Gone` or an error, and reports objects that vanished meanwhile as deletions.
    """

    def __init__(
        self, kube: GatewayKube, path: str, params: Mapping[str, str], handler: Handler
    ) -> None:
        self.kube, self.path, self.params, self.handler = kube, path, dict(params), handler
        self.objects: dict[str, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self._version = ""
        self._task: asyncio.Task[None] | None = None

    async def _relist(self) -> None:
        listing = await self.kube.list_raw(self.path, self.params)
        fresh = {object_name(item): item for item in listing.get("items") or []}
        for name in set(self.objects) - set(fresh):
            self.handler("DELETED", self.objects.pop(name))
        for name, obj in fresh.items():
            kind = "MODIFIED" if name in self.objects else "ADDED"
            self.objects[name] = obj
            self.handler(kind, obj)
        self._version = str((listing.get("metadata") or {}).get("resourceVersion", ""))
        self.synced.set()

    def _apply(self, event: Mapping[str, Any]) -> bool:
        kind, obj = event.get("type"), dict(event.get("object") or {})
        if kind == "ERROR":
            return False
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self._version = str(version)
        if kind == "BOOKMARK":
            return True
        name = object_name(obj)
        if kind == "DELETED":
            self.objects.pop(name, None)
        else:
            self.objects[name] = obj
        self.handler(str(kind), obj)
        return True

    async def run(self) -> None:
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                async for event in self.kube.watch(self.path, self._version, self.params):
                    if not self._apply(event):
                        need_list = True
                        break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: list again after a pause
                logger.debug("watch %s interrupted: %s", self.path, exc)
                need_list = True
                await asyncio.sleep(0.5)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
