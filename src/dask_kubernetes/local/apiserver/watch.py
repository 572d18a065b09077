"""Watch streams: chunked JSON lines, replayed from a resourceVersion, with bookmarks, timeouts,
410 Gone for compacted history, and fault-injected early closes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from dask_kubernetes.local.apimachinery.errors import APIError
from dask_kubernetes.local.apimachinery.selectors import Selection

from . import table
from .faults import Faults
from .objects import ObjectAPI
from .resources import ResourceType
from .store import StoredEvent


@dataclass(frozen=True)
class WatchRequest:
    """What a client asked to watch, parsed from the query string."""

    resource: ResourceType
    namespace: str | None
    selection: Selection
    resource_version: str
    timeout_seconds: float | None
    bookmarks: bool
    as_table: bool = False

    @classmethod
    def parse(
        cls,
        resource: ResourceType,
        namespace: str | None,
        selection: Selection,
        query: dict[str, str],
        accept: str = "",
    ) -> WatchRequest:
        timeout = query.get("timeoutSeconds")
        try:  # whole seconds, as kube-apiserver parses it (a client sending 0.5 gets 400 there)
            timeout_value = float(int(timeout)) if timeout else None
        except ValueError as error:
            raise APIError(400, f"invalid timeoutSeconds {timeout!r}") from error
        return cls(
            resource,
            namespace,
            selection,
            query.get("resourceVersion", ""),
            timeout_value,
            query.get("allowWatchBookmarks") in ("true", "1"),
            table.wants_table(accept),
        )


def _event_line(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"


class WatchStream:
    """One watch: its backlog first, then live events, until timeout, fault or disconnect."""

    def __init__(
        self, objects: ObjectAPI, faults: Faults, bookmark_interval: float, request: WatchRequest
    ) -> None:
        self._objects = objects
        self._faults = faults
        self._bookmark_interval = bookmark_interval
        self._request = request

    def _translate(self, event: StoredEvent) -> str | None:
        """The event type this watcher sees, or None: like a real server, an object entering
        the selection is ADDED and one leaving it is DELETED."""
        wanted = self._request
        if wanted.namespace is not None and event.namespace != wanted.namespace:
            return None
        matches = wanted.selection.matches(event.object)
        if event.type != "MODIFIED" or event.previous is None:
            return event.type if matches else None
        matched = wanted.selection.matches(event.previous)
        if matches and matched:
            return "MODIFIED"
        if matches:
            return "ADDED"
        return "DELETED" if matched else None

    def _shaped(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The object as this watcher asked for it: its version, or a one-row Table."""
        obj = dict(obj)
        resource = self._request.resource
        obj["apiVersion"] = resource.api_version
        obj["kind"] = resource.kind
        if self._request.as_table:
            return table.as_table(resource, [obj], obj["metadata"]["resourceVersion"])
        return obj

    async def serve(self, http_request: web.Request) -> web.StreamResponse:
        store = self._objects.store
        wanted = self._request
        storage = wanted.resource.storage_key
        initial: list[tuple[str, dict[str, Any]]] = []
        if wanted.resource_version in ("", "0"):
            listing = self._objects.list(wanted.resource, wanted.namespace, wanted.selection)
            initial = [("ADDED", item) for item in listing["items"]]
            since = store.revision
        else:
            try:
                since = int(wanted.resource_version)
            except ValueError as error:
                raise APIError(
                    400, f"invalid resourceVersion {wanted.resource_version!r}"
                ) from error
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            subscription, backlog = store.subscribe(storage, since)
        except APIError as error:
            await response.prepare(http_request)
            await response.write(_event_line("ERROR", error.status()))
            await response.write_eof()
            return response
        try:
            await response.prepare(http_request)
            with contextlib.suppress(ConnectionResetError):  # the watcher went away: done
                await self._pump(response, subscription.queue, initial, backlog)
        finally:
            store.unsubscribe(subscription)
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response

    def _deadline(self) -> float | None:
        limits = [
            t
            for t in (self._request.timeout_seconds, self._faults.watch_close_after_seconds)
            if t is not None
        ]
        return time.monotonic() + min(limits) if limits else None

    async def _pump(
        self,
        response: web.StreamResponse,
        queue: asyncio.Queue[StoredEvent | None],
        initial: list[tuple[str, dict[str, Any]]],
        backlog: list[StoredEvent],
    ) -> None:
        deadline = self._deadline()
        limit = self._faults.watch_close_after_events
        replay = [_event_line(kind, self._shaped(obj)) for kind, obj in initial]
        for stored in backlog:
            kind = self._translate(stored)
            if kind is not None:
                replay.append(_event_line(kind, self._shaped(stored.object)))
        if limit is not None and len(replay) >= limit:
            for line in replay[:limit]:
                await response.write(line)
            return
        for line in replay:
            await response.write(line)
        sent = len(replay)
        while limit is None or sent < limit:
            wait = self._bookmark_interval if self._request.bookmarks else None
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                wait = remaining if wait is None else min(wait, remaining)
            try:
                live = await asyncio.wait_for(queue.get(), wait)
            except asyncio.TimeoutError:
                if self._request.bookmarks and queue.empty():
                    await response.write(self._bookmark())
                continue
            if live is None:
                return
            kind = self._translate(live)
            if kind is not None:
                await response.write(_event_line(kind, self._shaped(live.object)))
                sent += 1

    def _bookmark(self) -> bytes:
        resource = self._request.resource
        return _event_line(
            "BOOKMARK",
            {
                "kind": resource.kind,
                "apiVersion": resource.api_version,
                "metadata": {"resourceVersion": str(self._objects.store.revision)},
            },
        )
