"""DaskWorkerGroup: keep `replicas` worker Pods; shrink only through the scheduler."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from dask_kubernetes.operator import manifests as m
from dask_kubernetes.operator.controller import events
from dask_kubernetes.operator.controller.runtime import Runtime, runtime
from dask_kubernetes.operator.controller.status import changes
from dask_kubernetes.operator.kube import Kube, resource_path
from dask_kubernetes.operator.scheduler_client import SchedulerClient, SchedulerUnavailable

GROUP = "daskworkergroups.kubernetes.dask.org"
CREATE_CONCURRENCY = 16
RETRY = 1.0

logger = logging.getLogger(__name__)


def _worker_gone(event: Mapping[str, Any], body: Mapping[str, Any], **_: Any) -> bool:
    return event.get("type") == "DELETED" or m.pod_is_finished(body)


async def _create_workers(
    kube: Kube, group: Mapping[str, Any], namespace: str, indices: list[int]
) -> None:
    gate = asyncio.Semaphore(CREATE_CONCURRENCY)
    path = resource_path(namespace, "pods")

    async def create(index: int) -> None:
        async with gate:
            await kube.create(path, m.worker_pod(group, namespace, index))

    await asyncio.gather(*(create(index) for index in indices))


def _matches(pod: Mapping[str, Any], worker_name: str, address: str) -> bool:
    ip = pod.get("status", {}).get("podIP")
    return pod["metadata"]["name"] == worker_name or (bool(ip) and f"//{ip}:" in address)


async def _choose_retirees(
    rt: Runtime, namespace: str, cluster: str, group: str, alive: list[dict[str, Any]], excess: int
) -> list[dict[str, Any]]:
    """Pods to delete: never-connected ones first, then those the scheduler retired (data moved)."""
    client = SchedulerClient.for_cluster(rt.kube, namespace, cluster)
    try:
        connected = await client.workers()
    except SchedulerUnavailable as exc:
        raise kopf.TemporaryError(f"cannot scale down yet: {exc}", delay=RETRY) from exc
    ours = [p for p in alive if any(_matches(p, w.name, w.address) for w in connected)]
    idle = sorted(
        (p for p in alive if p not in ours),
        key=lambda p: m.worker_index(group, p["metadata"]["name"]) or 0,
        reverse=True,
    )
    victims = idle[:excess]
    remaining = excess - len(victims)
    if remaining <= 0:
        return victims
    if len(ours) == len(connected):
        retired = await client.retire(n=remaining)
    else:  # other groups share the scheduler: retire from this group only
        addresses = [
            w.address for w in connected if any(_matches(p, w.name, w.address) for p in ours)
        ]
        retired = await client.retire(addresses=sorted(addresses)[-remaining:])
    return victims + [p for p in ours if any(_matches(p, r.name, r.address) for r in retired)]


async def reconcile(rt: Runtime, group: Mapping[str, Any]) -> dict[str, Any]:
    """Converge the group's Pods on `spec.worker.replicas`; return the status it should show."""
    name, namespace = group["metadata"]["name"], group["metadata"]["namespace"]
    cluster = group["spec"]["cluster"]
    async with rt.locks[f"wg/{namespace}/{name}"]:
        if await rt.kube.get(resource_path(namespace, "daskclusters", cluster)) is None:
            return {"reason": f"DaskCluster {cluster} not found"}
        pods = await rt.kube.list(resource_path(namespace, "pods"), m.worker_labels(cluster, name))
        live = [p for p in pods if not m.pod_is_terminating(p)]
        for pod in (p for p in live if m.pod_is_finished(p)):
            await rt.kube.delete(resource_path(namespace, "pods", pod["metadata"]["name"]))
        alive = [p for p in live if not m.pod_is_finished(p)]
        desired = int(group["spec"]["worker"].get("replicas", 1))
        if desired > len(alive):
            names = [p["metadata"]["name"] for p in pods]
            indices = m.free_worker_indices(name, names, desired - len(alive))
            await _create_workers(rt.kube, group, namespace, indices)
            logger.info("worker group %s/%s: created %d workers", namespace, name, len(indices))
        elif desired < len(alive):
            victims = await _choose_retirees(
                rt, namespace, cluster, name, alive, len(alive) - desired
            )
            for pod in victims:
                await rt.kube.delete(resource_path(namespace, "pods", pod["metadata"]["name"]))
            logger.info("worker group %s/%s: retired %d workers", namespace, name, len(victims))
            desired = len(alive) - len(victims)
        return {
            "replicas": desired,
            "selector": m.label_selector(m.worker_labels(cluster, name)),
            "reason": "",
        }


async def _adopt(rt: Runtime, group: Mapping[str, Any]) -> None:
    """Make a user-created group a child of its cluster so deleting the cluster removes it."""
    meta = group["metadata"]
    if any(ref.get("controller") for ref in meta.get("ownerReferences") or []):
        return
    namespace = meta["namespace"]
    cluster = await rt.kube.get(resource_path(namespace, "daskclusters", group["spec"]["cluster"]))
    if cluster is not None:
        refs = [*(meta.get("ownerReferences") or []), m.owner_reference(cluster)]
        await rt.kube.patch(
            resource_path(namespace, "daskworkergroups", meta["name"]),
            {"metadata": {"ownerReferences": refs}},
        )


async def _handle(memo: Any, body: kopf.Body, patch: kopf.Patch) -> None:
    rt = runtime(memo)
    await _adopt(rt, body)
    desired_status = await reconcile(rt, body)
    reason = desired_status.get("reason")
    if reason and (body.get("status") or {}).get("reason") != reason:  # once, not every tick
        events.warning(body, reason="ClusterNotFound", message=desired_status["reason"])
    patch.status.update(changes(body.get("status") or {}, desired_status))


@kopf.on.resume(GROUP, id="resume", backoff=RETRY)
@kopf.on.create(GROUP, id="create", backoff=RETRY)
@kopf.on.update(GROUP, id="scale", field="spec.worker.replicas", backoff=RETRY)
async def on_change(memo: Any, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    await _handle(memo, body, patch)


@kopf.timer(GROUP, id="converge", interval=5.0, initial_delay=5.0, backoff=RETRY)
async def on_timer(memo: Any, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    await _handle(memo, body, patch)


@kopf.on.event("pods", labels={m.COMPONENT_LABEL: "worker"}, when=_worker_gone)
async def on_worker_gone(memo: Any, body: kopf.Body, **_: Any) -> None:
    """A worker Pod died or vanished: replace it soon, once per burst of events."""
    labels, namespace = body["metadata"]["labels"], body["metadata"]["namespace"]
    group = labels.get(m.WORKERGROUP_LABEL)
    if not group:
        return
    rt = runtime(memo)
    path = resource_path(namespace, "daskworkergroups", group)

    async def run() -> None:
        current = await rt.kube.get(path)
        if current is not None and not m.pod_is_terminating(current):
            status = await reconcile(rt, current)
            delta = changes(current.get("status") or {}, status)
            if delta:
                await rt.kube.patch(f"{path}/status", {"status": delta})

    rt.debouncer.trigger(path, run)
