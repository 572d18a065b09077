"""What the operator knows of the cluster, kept by kopf from the watch streams it already has.

Reconciles read these indexes instead of asking the API server on every pass (an informer
cache, as client-go's controllers have), so scaling to N workers costs N creations and a status
patch, and an idle cluster only a check a minute (`Ghosts`). kopf fills every index before it
runs a handler.

The cache lags the server by one watch event, so `Expectations` remembers the Pods this process
created or deleted until the cache has caught up (client-go's ReplicaSet controller does the
same): without it a reconcile right after a scale-up would count too few workers, and one right
after a scale-down would retire yet another worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from dask_kubernetes.operator import child_manifests as m
from dask_kubernetes.operator.vocabulary import CLUSTER_LABEL, DASK_CLUSTER, DASK_WORKER_GROUP

#: Index values by (namespace, cluster name) or (namespace, object name).
Key = tuple[str, str]
PodIndex = kopf.Index[Key, dict[str, Any]]
NameIndex = kopf.Index[Key, dict[str, Any]]


def _slim_pod(body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields reconciles read; a full Pod body per worker would cost memory for nothing."""
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    return {
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "labels": dict(meta.get("labels") or {}),
            "deletionTimestamp": meta.get("deletionTimestamp"),
        },
        "status": {
            "phase": status.get("phase"),
            "podIP": status.get("podIP"),
            "conditions": [dict(c) for c in status.get("conditions") or []],
        },
    }


@kopf.index("pods", labels={CLUSTER_LABEL: kopf.PRESENT})
def dask_pods(
    *, namespace: str | None, labels: Mapping[str, str], body: kopf.Body, **_: Any
) -> dict[Key, dict[str, Any]]:
    """Every Pod of a Dask cluster (scheduler, workers, job runner), by cluster."""
    return {(namespace or "", labels[CLUSTER_LABEL]): _slim_pod(body)}


@kopf.index("services", labels={CLUSTER_LABEL: kopf.PRESENT})
def dask_services(*, namespace: str | None, name: str, **_: Any) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", name): {}}


@kopf.index(DASK_CLUSTER.fqn)
def dask_clusters(
    *, namespace: str | None, name: str, status: kopf.Status, body: kopf.Body, **_: Any
) -> dict[Key, dict[str, Any]]:
    """Phase, uid and TLS Secret (None without TLS): what its workers and runner need."""
    value = {
        "phase": status.get("phase"),
        "uid": body["metadata"].get("uid"),
        "tlsSecret": m.tls_secret_name(body),
    }
    return {(namespace or "", name): value}


@kopf.index(DASK_WORKER_GROUP.fqn)
def dask_worker_groups(*, namespace: str | None, name: str, **_: Any) -> dict[Key, dict[str, Any]]:
    return {(namespace or "", name): {}}


def exists(index: NameIndex, namespace: str, name: str) -> bool:
    return bool(index.get((namespace, name)))


def first(index: NameIndex, namespace: str, name: str) -> dict[str, Any] | None:
    return next(iter(index.get((namespace, name), ())), None)


def cluster_pods(
    index: PodIndex, namespace: str, cluster: str, ghosts: Ghosts | None = None
) -> list[dict[str, Any]]:
    pods = list(index.get((namespace, cluster), ()))
    return pods if ghosts is None else ghosts.hide(pods)


@dataclass
class Ghosts:
    """Pods the index still holds although the API server has deleted them.

    kopf re-lists when a watch's resourceVersion has expired (410 Gone) but never drops the
    index entries of objects deleted during the gap, so each cluster's Pods are LISTed now and
    then (`every` seconds) and what the index held before that LIST but the LIST lacks is hidden.
    """

    every: float = 60.0
    _uids: set[str] = field(default_factory=set)
    _next: dict[str, float] = field(default_factory=dict)

    def due(self, key: str) -> bool:
        """True once per `every` seconds per key, the first time `every` after the first call
        (kopf's index is exact right after its initial listing)."""
        now = time.monotonic()
        if key not in self._next:
            self._next[key] = now + self.every
            return False
        if self._next[key] > now:
            return False
        self._next[key] = now + self.every
        return True

    def record(
        self, before: Iterable[Mapping[str, Any]], listed: Iterable[Mapping[str, Any]]
    ) -> None:
        """`before`: the index's view taken before the LIST was sent; `listed`: its result."""
        present = {p["metadata"].get("uid") for p in listed}
        self._uids |= {
            uid for p in before if (uid := p["metadata"].get("uid")) and uid not in present
        }

    def hide(self, pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self._uids:
            return pods
        return [p for p in pods if p["metadata"].get("uid") not in self._uids]


def placeholder_pod(name: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """A Pod this process created that the watch has not shown yet: not started, no address."""
    return {"metadata": {"name": name, "labels": dict(labels)}, "status": {}}


@dataclass
class Expectations:
    """Pods created or deleted by this process that the cache does not reflect yet, per owner."""

    ttl: float = 30.0  # after this, trust the cache: the watch may have missed an event
    _created: dict[str, dict[str, float]] = field(default_factory=dict)
    _deleted: dict[str, dict[str, float]] = field(default_factory=dict)

    def created(self, owner: str, names: Iterable[str]) -> None:
        self._expect(self._created, owner, names)

    def deleted(self, owner: str, names: Iterable[str]) -> None:
        self._expect(self._deleted, owner, names)

    def _expect(self, table: dict[str, dict[str, float]], owner: str, names: Iterable[str]) -> None:
        now = time.monotonic()
        for stale in [o for o, entries in table.items() if max(entries.values(), default=0) < now]:
            del table[stale]  # owners gone since (e.g. a deleted worker group)
        table.setdefault(owner, {}).update(dict.fromkeys(names, now + self.ttl))

    def apply(
        self, owner: str, observed: list[dict[str, Any]], labels: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """`observed` as it will be once the cache catches up with this process's own writes."""
        now = time.monotonic()
        seen = {p["metadata"]["name"]: p for p in observed}
        created = {
            name: deadline
            for name, deadline in self._created.get(owner, {}).items()
            if deadline > now and name not in seen
        }
        deleted = {
            name: deadline
            for name, deadline in self._deleted.get(owner, {}).items()
            if deadline > now and name in seen and not m.is_terminating(seen[name])
        }
        self._created[owner], self._deleted[owner] = created, deleted
        pods = [p for p in observed if p["metadata"]["name"] not in deleted]
        return pods + [placeholder_pod(name, labels) for name in sorted(created)]


@dataclass(frozen=True)
class Views:
    """The indexes kopf passes to every handler, bundled so reconciles take one argument."""

    pods: PodIndex
    services: NameIndex
    clusters: NameIndex
    groups: NameIndex

    @classmethod
    def of(cls, handler_kwargs: Mapping[str, Any]) -> Views:
        return cls(
            pods=handler_kwargs["dask_pods"],
            services=handler_kwargs["dask_services"],
            clusters=handler_kwargs["dask_clusters"],
            groups=handler_kwargs["dask_worker_groups"],
        )
