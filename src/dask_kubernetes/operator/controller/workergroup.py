"""DaskWorkerGroup: keep `replicas` worker Pods; shrink only through the scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from dask_kubernetes.common.pods import is_terminal
from dask_kubernetes.operator import child_manifests as m
from dask_kubernetes.operator import vocabulary as v
from dask_kubernetes.operator.controller.kit import cache, events, flow, periodic
from dask_kubernetes.operator.controller.kit.cache import Views
from dask_kubernetes.operator.controller.kit.flow import RETRY
from dask_kubernetes.operator.controller.kit.runtime import Runtime, runtime
from dask_kubernetes.operator.rest import ApiError, resource_path
from dask_kubernetes.operator.scheduler_client import SchedulerClient, SchedulerUnavailable
from dask_kubernetes.operator.vocabulary import DASK_WORKER_GROUP

CREATE_CONCURRENCY = 16

logger = logging.getLogger(__name__)


def _worker_gone(event: Mapping[str, Any], body: Mapping[str, Any], **_: Any) -> bool:
    return event.get("type") == "DELETED" or is_terminal(body)


async def _create_workers(
    rt: Runtime,
    group: Mapping[str, Any],
    namespace: str,
    indices: list[int],
    tls_secret: str | None,
) -> None:
    gate = asyncio.Semaphore(CREATE_CONCURRENCY)
    path = resource_path(namespace, "pods")
    owner = _owner(group)

    async def create(index: int) -> None:
        pod = m.worker_pod(group, namespace, index, tls_secret)
        async with gate:
            await rt.kube.create(path, pod)  # a 409 means it exists too: expect it either way
        rt.expectations.created(owner, [pod["metadata"]["name"]])

    await asyncio.gather(*(create(index) for index in indices))


def _owner(group: Mapping[str, Any]) -> str:
    return f"wg/{group['metadata']['namespace']}/{group['metadata']['name']}"


async def _delete_pods(rt: Runtime, group: Mapping[str, Any], pods: list[dict[str, Any]]) -> None:
    namespace = group["metadata"]["namespace"]
    for pod in pods:
        name = pod["metadata"]["name"]
        await rt.kube.delete(resource_path(namespace, "pods", name))
        rt.expectations.deleted(_owner(group), [name])


def _matches(pod: Mapping[str, Any], worker_name: str, address: str) -> bool:
    ip = pod.get("status", {}).get("podIP")
    return pod["metadata"]["name"] == worker_name or (bool(ip) and f"//{ip}:" in address)


async def _choose_retirees(
    rt: Runtime,
    namespace: str,
    cluster: Mapping[str, Any],
    group: str,
    alive: list[dict[str, Any]],
    excess: int,
) -> list[dict[str, Any]]:
    """Pods to delete: never-connected ones first, then those the scheduler retired (data moved).

    `cluster`: the cluster's entry in the cache (name, uid)."""
    client = SchedulerClient.for_cluster(rt.kube, namespace, cluster["name"], cluster.get("uid"))
    try:
        connected = await client.workers()
    except SchedulerUnavailable as exc:
        raise kopf.TemporaryError(f"cannot scale down yet: {exc}", delay=RETRY) from exc
    ours = [p for p in alive if any(_matches(p, w.name, w.address) for w in connected)]
    idle = sorted(
        (p for p in alive if p not in ours),
        key=lambda p: v.worker_index(group, p["metadata"]["name"]) or 0,
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


def _group_pods(rt: Runtime, views: Views, group: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The group's Pods from the cache, corrected for this process's writes it has not shown."""
    name, namespace = group["metadata"]["name"], group["metadata"]["namespace"]
    labels = v.worker_labels(group["spec"]["cluster"], name)
    observed = [
        p
        for p in cache.cluster_pods(views.pods, namespace, group["spec"]["cluster"], rt.ghosts)
        if p["metadata"]["labels"].get(v.WORKERGROUP_LABEL) == name
        and p["metadata"]["labels"].get(v.COMPONENT_LABEL) == v.WORKER
    ]
    return rt.expectations.apply(_owner(group), observed, labels)


async def reconcile(rt: Runtime, views: Views, group: Mapping[str, Any]) -> dict[str, Any]:
    """Converge the group's Pods on `spec.worker.replicas`; return the status it should show."""
    name, namespace = group["metadata"]["name"], group["metadata"]["namespace"]
    cluster = group["spec"]["cluster"]
    problem = m.name_problem(group)
    if problem:
        return {"reason": problem}
    if m.is_terminating(group):  # being deleted: its Pods go with it
        return {}
    async with rt.locks[_owner(group)]:
        known = cache.first(views.clusters, namespace, cluster)
        if known is None:
            return {"reason": f"DaskCluster {cluster} not found"}
        pods = _group_pods(rt, views, group)
        live = [p for p in pods if not m.is_terminating(p)]
        await _delete_pods(rt, group, [p for p in live if is_terminal(p)])
        alive = [p for p in live if not is_terminal(p)]
        desired = int(group["spec"]["worker"].get("replicas", 1))
        if desired > len(alive):
            names = [p["metadata"]["name"] for p in pods]
            indices = m.free_worker_indices(name, names, desired - len(alive))
            await _create_workers(rt, group, namespace, indices, known.get("tlsSecret"))
            logger.info("worker group %s/%s: created %d workers", namespace, name, len(indices))
        elif desired < len(alive):
            victims = await _choose_retirees(
                rt, namespace, known | {"name": cluster}, name, alive, len(alive) - desired
            )
            await _delete_pods(rt, group, victims)
            logger.info("worker group %s/%s: retired %d workers", namespace, name, len(victims))
            desired = len(alive) - len(victims)
        return {
            "replicas": desired,
            "selector": v.label_selector(v.worker_labels(cluster, name)),
            "reason": "",
        }


async def _adopt(rt: Runtime, group: Mapping[str, Any]) -> None:
    """Make a user-created group a child of its cluster so deleting the cluster removes it."""
    if any(ref.get("controller") for ref in group["metadata"].get("ownerReferences") or []):
        return
    await flow.adopt(rt, DASK_WORKER_GROUP, group, group["spec"]["cluster"], controller=True)


async def _converge(rt: Runtime, views: Views, body: Mapping[str, Any]) -> None:
    """Reconcile, then write the status the group should show (one PATCH, only on a change)."""
    problem = m.name_problem(body)
    if problem:
        rt.refusals.report(body, problem)
        with contextlib.suppress(ApiError):  # 422 where the server lacks validation ratcheting
            await rt.status.write(
                rt.kube, flow.path_of(DASK_WORKER_GROUP, body), body, {"reason": problem}
            )
        return
    await _adopt(rt, body)
    desired_status = await reconcile(rt, views, body)
    reason = desired_status.get("reason")
    if reason and (body.get("status") or {}).get("reason") != reason:  # once, not every tick
        events.warning(body, reason="ClusterNotFound", message=reason)
    await flow.write_status(rt, DASK_WORKER_GROUP, body, desired_status)


@kopf.on.event(DASK_WORKER_GROUP.fqn)
async def on_group_event(memo: Any, body: kopf.Body, event: Any, **kwargs: Any) -> None:
    """Created, scaled, edited, or found at start-up: converge on what it says now.

    Level-triggered on every event rather than kopf's create/update handlers, so kopf writes no
    per-object state (annotations) and a scale to N costs N pod creations and one status PATCH.
    Errors are logged; the timer below converges within seconds.
    """
    if event.get("type") == "DELETED" or m.is_terminating(body):
        return
    await _converge(runtime(memo), Views.of(kwargs), body)


@periodic.every(DASK_WORKER_GROUP, flow.CONVERGE_INTERVAL)
async def converge(rt: Runtime, views: Views, body: dict[str, Any]) -> None:
    await _converge(rt, views, body)


@kopf.on.event("pods", labels={v.COMPONENT_LABEL: v.WORKER}, when=_worker_gone)
async def on_worker_gone(memo: Any, body: kopf.Body, **kwargs: Any) -> None:
    """A worker Pod died or vanished: replace it soon, once per burst of events."""
    labels, namespace = body["metadata"]["labels"], body["metadata"]["namespace"]
    group = labels.get(v.WORKERGROUP_LABEL)
    if not v.is_label(group):  # a label anyone who makes Pods can set
        return
    flow.reconcile_soon(
        runtime(memo), Views.of(kwargs), DASK_WORKER_GROUP, namespace, group, reconcile
    )
