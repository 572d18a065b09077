"""Object storage with one monotonic resourceVersion counter and a bounded event history."""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import gone

StorageKey = tuple[str, str]  # (group, plural)
ObjectKey = tuple[str, str]  # (namespace, name); namespace "" when cluster-scoped


@dataclass(frozen=True)
class StoredEvent:
    """One change, as a watch sends it: ADDED, MODIFIED or DELETED with the object then."""

    type: str
    resource_version: int
    storage: StorageKey
    object: dict[str, Any]
    previous: dict[str, Any] | None = None

    @property
    def namespace(self) -> str:
        return str(self.object.get("metadata", {}).get("namespace") or "")


class Subscription:
    """A watcher's queue of events; `None` means the server closed the watch."""

    def __init__(self, storage: StorageKey) -> None:
        self.storage = storage
        self.queue: asyncio.Queue[StoredEvent | None] = asyncio.Queue()


def object_key(obj: dict[str, Any]) -> ObjectKey:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


class Store:
    """All objects by storage key; every write takes the next resourceVersion."""

    def __init__(self, history_size: int = 10_000) -> None:
        self._objects: dict[StorageKey, dict[ObjectKey, dict[str, Any]]] = {}
        self._revision = 1
        self._history: deque[StoredEvent] = deque(maxlen=history_size)
        self._subscriptions: set[Subscription] = set()
        self._compacted = 0

    @property
    def revision(self) -> int:
        return self._revision

    def snapshot(self) -> Store:
        """A detached copy (no watchers, no history) to run a `dryRun` request against."""
        copied = Store(history_size=1)
        copied._objects = copy.deepcopy(self._objects)
        copied._revision = self._revision
        return copied

    def get(self, storage: StorageKey, namespace: str, name: str) -> dict[str, Any] | None:
        found = self._objects.get(storage, {}).get((namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def select(self, storage: StorageKey, namespace: str | None = None) -> list[dict[str, Any]]:
        items = self._objects.get(storage, {})
        return [
            copy.deepcopy(obj)
            for (ns, _), obj in sorted(items.items())
            if namespace is None or ns == namespace
        ]

    def iter_all(self) -> Iterator[tuple[StorageKey, dict[str, Any]]]:
        """Every stored object (not copied: callers must not mutate)."""
        for storage, items in list(self._objects.items()):
            for obj in list(items.values()):
                yield storage, obj

    def write(self, storage: StorageKey, obj: dict[str, Any], event_type: str) -> dict[str, Any]:
        """Store `obj` (ADDED or MODIFIED) under a fresh resourceVersion; return the stored copy."""
        self._revision += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self._revision)
        previous = self._objects.setdefault(storage, {}).get(object_key(stored))
        self._objects[storage][object_key(stored)] = stored
        event = StoredEvent(event_type, self._revision, storage, copy.deepcopy(stored), previous)
        self._publish(event)
        return copy.deepcopy(stored)

    def remove(self, storage: StorageKey, namespace: str, name: str) -> dict[str, Any] | None:
        removed = self._objects.get(storage, {}).pop((namespace, name), None)
        if removed is None:
            return None
        self._revision += 1
        removed["metadata"]["resourceVersion"] = str(self._revision)
        self._publish(StoredEvent("DELETED", self._revision, storage, copy.deepcopy(removed)))
        return removed

    def drop_storage(self, storage: StorageKey) -> None:
        """Forget a whole resource (its CRD is gone) and end its watches."""
        self._objects.pop(storage, None)
        for subscription in list(self._subscriptions):
            if subscription.storage == storage:
                subscription.queue.put_nowait(None)

    def _publish(self, event: StoredEvent) -> None:
        if len(self._history) == self._history.maxlen:
            self._compacted = self._history[0].resource_version
        self._history.append(event)
        for subscription in self._subscriptions:
            if subscription.storage == event.storage:
                subscription.queue.put_nowait(event)

    def subscribe(self, storage: StorageKey, since: int) -> tuple[Subscription, list[StoredEvent]]:
        """Events after `since` from history (410 Gone if compacted), then live ones."""
        if since < self._compacted:
            raise gone(f"too old resource version: {since} ({self._compacted})")
        backlog = [e for e in self._history if e.storage == storage and e.resource_version > since]
        subscription = Subscription(storage)
        self._subscriptions.add(subscription)
        return subscription, backlog

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def close_all_watches(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.queue.put_nowait(None)
