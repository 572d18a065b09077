"""List-then-watch cache of one resource, resilient like client-go's informer.

Why one home: the stand-in's agents (kubelet, network agent, kube-proxy) and the gateway's backend
all learn state by watching rather than polling, over different clients (our `ApiClient`,
kr8s). The cache logic is the same for all: list, watch from the list's resourceVersion, resume
after the server ends a watch, list again after `410 Gone` or a failure, and report objects that
vanished in between as deletions, so consumers react to (event, object) calls, level-triggered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, ClassVar, Protocol

logger = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], None]


class ListWatch(Protocol):
    """What an informer needs of a client: one list and one watch of a collection path."""

    async def list_objects(self, path: str, params: Mapping[str, str]) -> dict[str, Any]: ...

    def watch(
        self, path: str, resource_version: str, params: Mapping[str, str]
    ) -> AsyncIterator[dict[str, Any]]: ...


def object_key(obj: Mapping[str, Any]) -> str:
    """`namespace/name` (an empty namespace for cluster-scoped objects)."""
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


class Informer:
    """Keeps `.objects` (by `key`) in sync with the API server and calls `handler(type, obj)`.

    `retry_on` names the client's failures that mean "watch again after a pause" (from the last
    version seen, or with a fresh list where `relist_after` says so); anything else (a bug in a
    handler, say) ends the informer's task loudly instead of looping.
    """

    retry_on: ClassVar[tuple[type[BaseException], ...]] = ()
    retry_pause: ClassVar[float] = 0.2

    def __init__(
        self,
        client: ListWatch,
        path: str,
        handler: Handler,
        *,
        params: Mapping[str, str] | None = None,
        key: Callable[[Mapping[str, Any]], str] = object_key,
    ) -> None:
        self.client = client
        self.path = path
        self.params = dict(params or {})  # e.g. a selector, on the list and on the watch
        self.handler = handler
        self.key = key
        self.objects: dict[str, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self._resource_version = ""
        self._task: asyncio.Task[None] | None = None

    async def _relist(self) -> None:
        listing = await self.client.list_objects(self.path, self.params)
        fresh = {self.key(item): item for item in listing.get("items") or []}
        for key in set(self.objects) - set(fresh):
            self.handler("DELETED", self.objects.pop(key))
        for key, obj in fresh.items():
            kind = "MODIFIED" if key in self.objects else "ADDED"
            self.objects[key] = obj
            self.handler(kind, obj)
        self._resource_version = str((listing.get("metadata") or {}).get("resourceVersion", ""))
        self.synced.set()

    def _apply(self, event: Mapping[str, Any]) -> bool:
        """Apply one watch event; False when the watch must re-list."""
        kind, obj = event.get("type"), dict(event.get("object") or {})
        if kind == "ERROR":
            return False
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self._resource_version = str(version)
        if kind == "BOOKMARK":
            return True
        key = self.key(obj)
        if kind == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        self.handler(str(kind), obj)
        return True

    async def run(self) -> None:
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                async for event in self.client.watch(
                    self.path, self._resource_version, self.params
                ):
                    if not self._apply(event):
                        need_list = True
                        break
            except asyncio.CancelledError:
                raise
            except self.retry_on as exc:
                logger.debug("watch %s interrupted: %s", self.path, exc)
                need_list = need_list or self.relist_after(exc)
                await asyncio.sleep(self.retry_pause)

    def relist_after(self, exc: BaseException) -> bool:
        """Whether a failure may have lost events, so only a fresh list is safe: by default yes."""
        return True

    def start(self) -> None:
        self._task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
