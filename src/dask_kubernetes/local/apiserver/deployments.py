"""A tiny Deployment controller (the controller-manager's part a stand-in needs): keeps
`spec.replicas` pods from the template, owned by the Deployment, and reports status.
Template changes replace pods (Recreate); there are no ReplicaSets."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import logging
import uuid
from typing import Any

from .backends import is_ready
from .errors import APIError
from .objects import DeleteOptions, ObjectAPI
from .resources import ResourceType
from .store import StoredEvent, Subscription

log = logging.getLogger(__name__)
HASH_LABEL = "pod-template-hash"


def template_hash(deployment: dict[str, Any]) -> str:
    template = (deployment.get("spec") or {}).get("template") or {}
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:10]


class DeploymentController:
    """Reconciles a Deployment whenever it or one of its pods changes."""

    def __init__(self, objects: ObjectAPI) -> None:
        self._objects = objects
        deployments = objects.resources.lookup("apps", "v1", "deployments")
        pods = objects.resources.lookup("", "v1", "pods")
        assert deployments is not None and pods is not None
        self._deployments: ResourceType = deployments
        self._pods: ResourceType = pods
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: list[Subscription] = []

    def start(self) -> None:
        store = self._objects.store
        for resource in (self._deployments, self._pods):
            subscription, _ = store.subscribe(resource.storage_key, store.revision)
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
                for namespace, name in sorted(self._affected(batch)):
                    self.reconcile_named(namespace, name)
                if closed:
                    return
        finally:
            self._objects.store.unsubscribe(subscription)

    def pending_events(self) -> int:
        """Events not yet handled (0 means every write so far has been reconciled)."""
        return sum(subscription.queue.qsize() for subscription in self._subscriptions)

    def _affected(self, events: list[StoredEvent]) -> set[tuple[str, str]]:
        """The Deployments these events concern: the one changed, or the pods' owners — a
        change reconciles only what it touches."""
        affected: set[tuple[str, str]] = set()
        for event in events:
            if event.storage == self._deployments.storage_key:
                if event.type != "DELETED":
                    affected.add((event.namespace, event.object["metadata"]["name"]))
                continue
            for obj in (event.object, event.previous):
                for ref in (obj or {}).get("metadata", {}).get("ownerReferences") or []:
                    if ref.get("kind") == "Deployment" and ref.get("name"):
                        affected.add((event.namespace, ref["name"]))
        return affected

    def reconcile_named(self, namespace: str, name: str) -> None:
        deployment = self._objects.store.get(self._deployments.storage_key, namespace, name)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            return
        try:
            self.reconcile(deployment)
        except APIError as error:
            log.debug("deployment reconcile of %s/%s: %s", namespace, name, error.message)

    def _owned_pods(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        owned = self._objects.store.dependents(
            deployment["metadata"]["uid"], self._pods.storage_key
        )
        return [pod for _, pod in owned]

    def reconcile(self, deployment: dict[str, Any]) -> None:
        meta = deployment["metadata"]
        namespace = meta["namespace"]
        wanted = int((deployment.get("spec") or {}).get("replicas", 1))
        current_hash = template_hash(deployment)
        pods = [
            p for p in self._owned_pods(deployment) if not p["metadata"].get("deletionTimestamp")
        ]
        current = [
            p for p in pods if p["metadata"].get("labels", {}).get(HASH_LABEL) == current_hash
        ]
        stale = [p for p in pods if p not in current]
        for pod in stale + current[wanted:]:
            with contextlib.suppress(APIError):
                self._objects.delete(
                    self._pods, namespace, pod["metadata"]["name"], DeleteOptions()
                )
        for _ in range(wanted - len(current)):
            self._objects.create(self._pods, namespace, self._pod_for(deployment, current_hash))
        self._report(deployment, wanted)

    def _pod_for(self, deployment: dict[str, Any], current_hash: str) -> dict[str, Any]:
        meta = deployment["metadata"]
        template = copy.deepcopy((deployment.get("spec") or {}).get("template") or {})
        pod_meta = template.get("metadata") or {}
        labels = dict(pod_meta.get("labels") or {})
        labels[HASH_LABEL] = current_hash
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-{current_hash[:8]}-{uuid.uuid4().hex[:5]}",
                "labels": labels,
                "annotations": dict(pod_meta.get("annotations") or {}),
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": template.get("spec") or {},
        }

    def _report(self, deployment: dict[str, Any], wanted: int) -> None:
        pods = [
            p for p in self._owned_pods(deployment) if not p["metadata"].get("deletionTimestamp")
        ]
        ready = sum(1 for p in pods if is_ready(p))
        status = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": len(pods),
            "updatedReplicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(wanted - ready, 0),
        }
        status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
        if (deployment.get("status") or {}) == status:
            return
        meta = deployment["metadata"]
        updated = copy.deepcopy(deployment)
        updated["status"] = status
        with contextlib.suppress(APIError):
            self._objects.update(
                self._deployments, meta["namespace"], meta["name"], updated, "status"
            )
