"""The ReplicaSet controller (kube-controller-manager's part a stand-in needs), and the event
plumbing it shares with the Deployment controller.

A ReplicaSet keeps `spec.replicas` live pods it controls: it creates missing ones (failed or
deleted pods are replaced; failed ones stay, as on a real cluster), deletes surplus ones in the
order Kubernetes does, and reports `status` (a pod counts as available once it has been ready for
`minReadySeconds`). It neither adopts matching orphan pods nor releases pods whose labels stop
matching."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import logging
import math
from collections.abc import Iterable
from typing import Any

from dask_kubernetes.common import clock
from dask_kubernetes.common.pods import condition, is_ready
from dask_kubernetes.local.apimachinery.errors import APIError
from dask_kubernetes.local.apimachinery.selectors import labels_match, requirements_of
from dask_kubernetes.local.apiserver.objects import DeleteOptions, ObjectAPI
from dask_kubernetes.local.apiserver.resources import ResourceType
from dask_kubernetes.local.apiserver.store import StoredEvent, Subscription

log = logging.getLogger(__name__)

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}  # who goes first on scale-down
Key = tuple[str, str]  # (namespace, name)


def resource(objects: ObjectAPI, group: str, plural: str) -> ResourceType:
    found = objects.resources.lookup(group, "v1", plural)
    assert found is not None, plural
    return found


def controller_ref(obj: dict[str, Any] | None) -> dict[str, Any]:
    """The ownerReference with `controller: true` (empty when there is none)."""
    refs = (obj or {}).get("metadata", {}).get("ownerReferences") or []
    return next((ref for ref in refs if ref.get("controller")), {})


def owner_ref(owner: dict[str, Any], kind: ResourceType) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def spec_int(obj: dict[str, Any], field: str, default: int) -> int:
    """An integer of `spec`, `default` when left out (as the API server's defaulting would)."""
    value = (obj.get("spec") or {}).get(field)
    return default if value is None else int(value)


def replicas(obj: dict[str, Any]) -> int:
    return spec_int(obj, "replicas", 1)


def compact(status: dict[str, Any], *always: str) -> dict[str, Any]:
    """Counts as Kubernetes serialises them: zeros left out (`omitempty`) but for `always`."""
    return {k: v for k, v in status.items() if v or k in always}


class Controller:
    """Follows the store's events for `watched` resources; each batch of events reconciles, once
    and synchronously, every object they concern — never more than a change touches."""

    def __init__(self, objects: ObjectAPI, watched: Iterable[ResourceType]) -> None:
        self._objects = objects
        self._watched = tuple(watched)
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: list[Subscription] = []

    def start(self) -> None:
        store = self._objects.store
        for watched in self._watched:
            subscription, _ = store.subscribe(watched.storage_key, store.revision)
            self._subscriptions.append(subscription)
            self._tasks.append(asyncio.get_running_loop().create_task(self._follow(subscription)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._subscriptions.clear()

    def pending_events(self) -> int:
        """Events not yet handled (0 means every write so far has been reconciled)."""
        return sum(subscription.queue.qsize() for subscription in self._subscriptions)

    async def _follow(self, subscription: Subscription) -> None:
        try:
            while (event := await subscription.queue.get()) is not None:
                batch, closed = [event], False
                while not subscription.queue.empty():
                    queued = subscription.queue.get_nowait()
                    if queued is None:
                        closed = True
                        break
                    batch.append(queued)
                for key in sorted({key for event in batch for key in self.affected(event)}):
                    self.reconcile_named(*key)
                if closed:
                    return
        finally:
            self._objects.store.unsubscribe(subscription)

    def affected(self, event: StoredEvent) -> Iterable[Key]:
        """The objects (of the controller's own kind) an event concerns."""
        raise NotImplementedError

    def primary(self) -> ResourceType:
        """The controller's own kind: the first resource it watches."""
        return self._watched[0]

    def reconcile_named(self, namespace: str, name: str) -> None:
        obj = self._objects.store.get(self.primary().storage_key, namespace, name)
        if obj is None or not self.manages(obj):
            return
        try:
            self.reconcile(obj)
        except APIError as error:
            kind = self.primary().kind.lower()
            log.debug("%s reconcile of %s/%s: %s", kind, namespace, name, error.message)

    def manages(self, obj: dict[str, Any]) -> bool:
        """Whether to reconcile `obj` at all (e.g. not once it is being deleted)."""
        return True

    def reconcile(self, obj: dict[str, Any]) -> None:
        raise NotImplementedError

    def owners_of(self, event: StoredEvent, owned: ResourceType, kind: str) -> Iterable[Key]:
        """The object itself for an event on the controller's kind (unless it is gone); the
        controlling owner of `kind`, before and after the change, for an event on `owned`."""
        if event.storage != owned.storage_key:
            if event.type != "DELETED":
                yield event.namespace, event.object["metadata"]["name"]
            return
        for obj in (event.object, event.previous):
            ref = controller_ref(obj)
            if ref.get("kind") == kind and ref.get("name"):
                yield event.namespace, ref["name"]


def is_active(pod: dict[str, Any]) -> bool:
    """Counted as a replica: not being deleted and not finished."""
    phase = (pod.get("status") or {}).get("phase")
    return not pod["metadata"].get("deletionTimestamp") and phase not in ("Succeeded", "Failed")


def ready_for(pod: dict[str, Any]) -> float:
    """Seconds since the pod became ready (infinite when the kubelet did not say when)."""
    since = condition(pod, "Ready").get("lastTransitionTime")
    if not since:
        return math.inf
    now = datetime.datetime.now(datetime.timezone.utc)
    return (now - clock.parse(since)).total_seconds()


def deletion_cost(pod: dict[str, Any]) -> int:
    value = (pod["metadata"].get("annotations") or {}).get(DELETION_COST, "0")
    try:
        return int(value)
    except ValueError:
        return 0


def deletion_order(pod: dict[str, Any]) -> tuple[bool, int, bool, int, float]:
    """Sort key, first deleted first: unscheduled, then pending, then not ready, then the
    lowest pod-deletion-cost, then the newest."""
    meta, status = pod["metadata"], pod.get("status") or {}
    created = clock.parse(meta["creationTimestamp"]).timestamp()
    return (
        bool((pod.get("spec") or {}).get("nodeName")),
        _PHASE_RANK.get(status.get("phase", "Pending"), 0),
        is_ready(pod),
        deletion_cost(pod),
        -created,
    )


class ReplicaSetController(Controller):
    """Reconciles a ReplicaSet whenever it or one of the pods it controls changes."""

    def __init__(self, objects: ObjectAPI) -> None:
        self._replica_sets = resource(objects, "apps", "replicasets")
        self._pods = resource(objects, "", "pods")
        super().__init__(objects, (self._replica_sets, self._pods))
        self._later: dict[Key, asyncio.TimerHandle] = {}

    async def stop(self) -> None:
        for handle in self._later.values():
            handle.cancel()
        self._later.clear()
        await super().stop()

    def affected(self, event: StoredEvent) -> Iterable[Key]:
        return self.owners_of(event, self._pods, "ReplicaSet")

    def reconcile(self, replica_set: dict[str, Any]) -> None:
        uid = replica_set["metadata"]["uid"]
        pods = [
            pod
            for _, pod in self._objects.store.dependents(uid, self._pods.storage_key)
            if controller_ref(pod).get("uid") == uid and is_active(pod)
        ]
        if not replica_set["metadata"].get("deletionTimestamp"):
            surplus = len(pods) - replicas(replica_set)
            for pod in sorted(pods, key=deletion_order)[: max(surplus, 0)]:
                self._delete(pod)
                pods.remove(pod)
            pods += [self._create(replica_set) for _ in range(-surplus)]
        self._report(replica_set, pods)

    def _delete(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        with contextlib.suppress(APIError):
            self._objects.delete(self._pods, meta["namespace"], meta["name"], DeleteOptions())

    def _create(self, replica_set: dict[str, Any]) -> dict[str, Any]:
        meta = replica_set["metadata"]
        template = copy.deepcopy((replica_set.get("spec") or {}).get("template") or {})
        pod_meta = template.get("metadata") or {}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "generateName": f"{meta['name']}-",
                "labels": pod_meta.get("labels") or {},
                "annotations": pod_meta.get("annotations") or {},
                "ownerReferences": [owner_ref(replica_set, self._replica_sets)],
            },
            "spec": template.get("spec") or {},
        }
        for _ in range(2):  # a generated name is, rarely, taken already: draw another
            try:
                return self._objects.create(self._pods, meta["namespace"], pod)
            except APIError as error:
                if error.code != 409:
                    raise
        return self._objects.create(self._pods, meta["namespace"], pod)

    def _report(self, replica_set: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        meta, spec = replica_set["metadata"], replica_set.get("spec") or {}
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
        fully_labeled = requirements_of(template_labels)
        min_ready = spec_int(replica_set, "minReadySeconds", 0)
        ready = [pod for pod in pods if is_ready(pod)]
        waits = [min_ready - ready_for(pod) for pod in ready]
        status = compact(
            {
                "replicas": len(pods),
                "fullyLabeledReplicas": sum(labels_match(fully_labeled, p) for p in pods),
                "readyReplicas": len(ready),
                "availableReplicas": sum(wait <= 0 for wait in waits),
                "observedGeneration": meta.get("generation", 1),
            },
            "replicas",  # the one ReplicaSetStatus field without omitempty
            "observedGeneration",
        )
        if any(wait > 0 for wait in waits):  # minReadySeconds: look again once one is due
            self._recheck(meta["namespace"], meta["name"], min(w for w in waits if w > 0))
        if (replica_set.get("status") or {}) == status:
            return
        updated = copy.deepcopy(replica_set)
        updated["status"] = status
        self._objects.update(self._replica_sets, meta["namespace"], meta["name"], updated, "status")

    def _recheck(self, namespace: str, name: str, delay: float) -> None:
        key = (namespace, name)
        if key in self._later:
            self._later[key].cancel()

        def again() -> None:
            self._later.pop(key, None)
            self.reconcile_named(namespace, name)

        self._later[key] = asyncio.get_running_loop().call_later(delay + 0.05, again)
