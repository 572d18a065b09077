"""Object storage with one monotonic resourceVersion counter and a bounded event history."""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from dask_kubernetes.local.apimachinery.errors import gone

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


def owner_uids(obj: dict[str, Any]) -> set[str]:
    return {ref["uid"] for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("uid")}


Predicate = Callable[[dict[str, Any]], bool]


class Store:
    """All objects by storage key; every write takes the next resourceVersion.

    Dependents are indexed by owner uid and watchers by storage key, so controllers and watch
    fan-out cost what they touch, not what the cluster holds."""

    def __init__(self, history_size: int = 10_000) -> None:
        self._objects: dict[StorageKey, dict[ObjectKey, dict[str, Any]]] = {}
        self._revision = 1
        self._history: deque[StoredEvent] = deque(maxlen=history_size)
        self._subscriptions: dict[StorageKey, set[Subscription]] = {}
        self._dependents: dict[str, set[tuple[StorageKey, ObjectKey]]] = {}
        self._compacted = 0
        self.objects_read = 0
        """Stored objects looked at by reads (a cost measure the scaling tests assert on)."""

    @property
    def revision(self) -> int:
        return self._revision

    def snapshot(self) -> Store:
        """A detached copy (no watchers, no history) to run a `dryRun` request against."""
        copied = Store(history_size=1)
        copied._objects = copy.deepcopy(self._objects)
        copied._dependents = {uid: set(keys) for uid, keys in self._dependents.items()}
        copied._revision = self._revision
        return copied

    def get(self, storage: StorageKey, namespace: str, name: str) -> dict[str, Any] | None:
        found = self._objects.get(storage, {}).get((namespace, name))
        if found is None:
            return None
        self.objects_read += 1
        return copy.deepcopy(found)

    def select(
        self,
        storage: StorageKey,
        namespace: str | None = None,
        predicate: Predicate | None = None,
    ) -> list[dict[str, Any]]:
        """Copies of the objects in `namespace` (all when None) that `predicate` accepts;
        only those accepted are copied."""
        items = self._objects.get(storage, {})
        chosen = [
            obj for (ns, _), obj in sorted(items.items()) if namespace is None or ns == namespace
        ]
        self.objects_read += len(chosen)
        return [copy.deepcopy(obj) for obj in chosen if predicate is None or predicate(obj)]

    def dependents(
        self, owner_uid: str, storage: StorageKey | None = None
    ) -> list[tuple[StorageKey, dict[str, Any]]]:
        """Copies of the objects (of `storage`, or any) with an ownerReference to `owner_uid`."""
        found = []
        for dep_storage, key in sorted(self._dependents.get(owner_uid, ())):
            if storage is None or dep_storage == storage:
                obj = self._objects.get(dep_storage, {}).get(key)
                if obj is not None:
                    found.append((dep_storage, obj))
        self.objects_read += len(found)
        return [(dep_storage, copy.deepcopy(obj)) for dep_storage, obj in found]

    def _index_owners(
        self,
        storage: StorageKey,
        key: ObjectKey,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
    ) -> None:
        before = owner_uids(old) if old is not None else set()
        after = owner_uids(new) if new is not None else set()
        for uid in before - after:
            keys = self._dependents.get(uid)
            if keys is not None:
                keys.discard((storage, key))
                if not keys:
                    del self._dependents[uid]
        for uid in after - before:
            self._dependents.setdefault(uid, set()).add((storage, key))

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
        key = object_key(stored)
        previous = self._objects.setdefault(storage, {}).get(key)
        self._objects[storage][key] = stored
        self._index_owners(storage, key, previous, stored)
        event = StoredEvent(event_type, self._revision, storage, copy.deepcopy(stored), previous)
        self._publish(event)
        return copy.deepcopy(stored)

    def remove(self, storage: StorageKey, namespace: str, name: str) -> dict[str, Any] | None:
        removed = self._objects.get(storage, {}).pop((namespace, name), None)
        if removed is None:
            return None
        self._index_owners(storage, (namespace, name), removed, None)
        self._revision += 1
        removed["metadata"]["resourceVersion"] = str(self._revision)
        self._publish(StoredEvent("DELETED", self._revision, storage, copy.deepcopy(removed)))
        return removed

    def drop_storage(self, storage: StorageKey) -> None:
        """Forget a whole resource (its CRD is gone) and end its watches."""
        for key, obj in (self._objects.pop(storage, None) or {}).items():
            self._index_owners(storage, key, obj, None)
        for subscription in list(self._subscriptions.get(storage, ())):
            subscription.queue.put_nowait(None)

    def _publish(self, event: StoredEvent) -> None:
        if len(self._history) == self._history.maxlen:
            self._compacted = self._history[0].resource_version
        self._history.append(event)
        for subscription in self._subscriptions.get(event.storage, ()):
            subscription.queue.put_nowait(event)

    def subscribe(self, storage: StorageKey, since: int) -> tuple[Subscription, list[StoredEvent]]:
        """Events after `since` from history (410 Gone if compacted), then live ones."""
        if since < self._compacted:
            raise gone(f"too old resource version: {since} ({self._compacted})")
        backlog = [e for e in self._history if e.storage == storage and e.resource_version > since]
        subscription = Subscription(storage)
        self._subscriptions.setdefault(storage, set()).add(subscription)
        return subscription, backlog

    def unsubscribe(self, subscription: Subscription) -> None:
        watchers = self._subscriptions.get(subscription.storage)
        if watchers is not None:
            watchers.discard(subscription)
            if not watchers:
                del self._subscriptions[subscription.storage]

    def close_all_watches(self) -> None:
        for watchers in list(self._subscriptions.values()):
            for subscription in list(watchers):
                subscription.queue.put_nowait(None)
