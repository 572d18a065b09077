"""List-then-watch cache of one resource across namespaces, resilient like client-go's informer.

It resumes a watch from the last seen resourceVersion, re-lists after `410 Gone`, and reports
objects that vanished in between as deletions, so consumers just react to (event, object) calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from dask_kubernetes.local.client.api_client import ApiClient, ApiError

logger = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], None]


def object_key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


class Informer:
    """Keeps `.objects` in sync with the API server and calls `handler(type, obj)` on changes."""

    def __init__(
        self,
        client: ApiClient,
        path: str,
        handler: Handler,
        *,
        params: dict[str, str] | None = None,
    ) -> None:
        self.client = client
        self.path = path
        self.params = params or {}  # e.g. a fieldSelector, on the list and on the watch
        self.handler = handler
        self.objects: dict[str, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self._resource_version = ""

    async def _relist(self) -> None:
        listing = await self.client.request("GET", self.path, params=self.params or None)
        fresh = {object_key(item): item for item in listing.get("items") or []}
        for key in set(self.objects) - set(fresh):
            self.handler("DELETED", self.objects.pop(key))
        for key, obj in fresh.items():
            kind = "MODIFIED" if key in self.objects else "ADDED"
            self.objects[key] = obj
            self.handler(kind, obj)
        self._resource_version = str(listing["metadata"].get("resourceVersion", ""))
        self.synced.set()

    def _apply(self, event: dict[str, Any]) -> bool:
        """Apply one watch event; False when the watch must re-list."""
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            return False
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self._resource_version = str(version)
        if kind == "BOOKMARK":
            return True
        key = object_key(obj)
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
            except (
                ApiError,
                aiohttp.ClientError,
                asyncio.TimeoutError,
                OSError,
                ValueError,
            ) as exc:
                logger.debug("watch %s interrupted: %s", self.path, exc)
                need_list = need_list or isinstance(exc, ApiError)
                await asyncio.sleep(0.2)
