"""DaskCluster: scheduler Pod + Service + default worker group, and the phase that reports them."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import kopf

from dask_kubernetes.operator import manifests as m
from dask_kubernetes.operator.controller import cache, events, periodic
from dask_kubernetes.operator.controller.cache import Views
from dask_kubernetes.operator.controller.runtime import Runtime, runtime
from dask_kubernetes.operator.controller.status import apply_status, with_condition
from dask_kubernetes.operator.kube import resource_path
from dask_kubernetes.operator.names import MAX_CLUSTER_NAME_LENGTH, is_label
from dask_kubernetes.operator.scheduler_client import SchedulerClient, SchedulerUnavailable

CLUSTER = "daskclusters.kubernetes.dask.org"
RETRY = 1.0

logger = logging.getLogger(__name__)


async def _ensure_scheduler(
    rt: Runtime, cluster: Mapping[str, Any], pods: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The live scheduler Pod, (re)creating it when missing or finished."""
    namespace = cluster["metadata"]["namespace"]
    scheduler = next(
        (p for p in pods if p["metadata"]["labels"].get(m.COMPONENT_LABEL) == "scheduler"), None
    )
    if scheduler is not None and m.pod_is_finished(scheduler) and not m.is_terminating(scheduler):
        await rt.kube.delete(resource_path(namespace, "pods", scheduler["metadata"]["name"]))
        events.warning(
            cluster, reason="SchedulerFailed", message="scheduler Pod ended; replacing it"
        )
        return None
    if scheduler is None and await rt.kube.create(
        resource_path(namespace, "pods"), m.scheduler_pod(cluster)
    ):
        events.normal(
            cluster,
            reason="SchedulerCreated",
            message=m.scheduler_name(cluster["metadata"]["name"]),
        )
    return scheduler


async def _ensure_children(
    rt: Runtime, views: Views, cluster: Mapping[str, Any], *, trust_cache: bool = True
) -> None:
    """The Service and default worker group, created when the cache lacks them (or, with
    `trust_cache=False`, created anyway: a 409 then confirms they exist)."""
    namespace, name = cluster["metadata"]["namespace"], cluster["metadata"]["name"]
    service = m.scheduler_service(cluster)
    cached = trust_cache and cache.exists(views.services, namespace, service["metadata"]["name"])
    if not cached and await rt.kube.create(resource_path(namespace, "services"), service):
        events.normal(cluster, reason="ServiceCreated", message=m.scheduler_name(name))
    group = m.default_worker_group(cluster)
    cached = trust_cache and cache.exists(views.groups, namespace, group["metadata"]["name"])
    if not cached and await rt.kube.create(resource_path(namespace, "daskworkergroups"), group):
        events.normal(cluster, reason="WorkerGroupCreated", message=group["metadata"]["name"])


async def reconcile(rt: Runtime, views: Views, cluster: Mapping[str, Any]) -> dict[str, Any]:
    """Create what is missing and return the status the cluster should show."""
    name, namespace = cluster["metadata"]["name"], cluster["metadata"]["namespace"]
    current = cluster.get("status") or {}
    problem = m.name_problem(cluster)
    if problem:
        rt.refusals.report(cluster, problem)
        return {"phase": "Error", "reason": problem}
    if m.is_terminating(cluster):  # being deleted: create nothing more
        return {"phase": "Closing"}
    if current.get("phase") == "Closing":
        return {}
    async with rt.locks[f"cluster/{namespace}/{name}"]:
        pods = cache.cluster_pods(views.pods, namespace, name, rt.ghosts)
        scheduler = await _ensure_scheduler(rt, cluster, pods)
        await _ensure_children(rt, views, cluster)
    ready = scheduler is not None and m.pod_is_ready(scheduler)
    group = m.default_worker_group_name(name)
    workers = [
        p
        for p in pods
        if p["metadata"]["labels"].get(m.WORKERGROUP_LABEL) == group
        and not m.is_terminating(p)
        and not m.pod_is_finished(p)
    ]
    reason = "SchedulerReady" if ready else "SchedulerNotReady"
    if not ready and current.get("phase") == "Running":
        events.warning(cluster, reason=reason, message="the scheduler is not ready")
    return {
        "phase": "Running" if ready else "Created",
        "replicas": len(workers),
        "reason": "",
        "conditions": with_condition(current, "SchedulerReady", ready, reason, ""),
    }


async def _close_if_idle(rt: Runtime, cluster: Mapping[str, Any]) -> bool:
    timeout = int(cluster["spec"].get("idleTimeout") or 0)
    if not timeout or (cluster.get("status") or {}).get("phase") != "Running":
        return False
    name, namespace = cluster["metadata"]["name"], cluster["metadata"]["namespace"]
    try:
        idle_since = await SchedulerClient.for_cluster(rt.kube, namespace, name).idle_since()
    except SchedulerUnavailable:
        return False
    if idle_since is None or time.time() < idle_since + timeout:
        return False
    events.normal(cluster, reason="IdleTimeout", message=f"idle for over {timeout}s; deleting")
    await close(rt, namespace, name)
    return True


async def close(rt: Runtime, namespace: str, name: str) -> None:
    """Mark a cluster Closing, then delete it in the foreground.

    It stays visible, Closing, until the garbage collector has removed its Pods, Service and
    worker groups (their ownerReferences block its deletion), so "gone" means all gone.
    """
    path = resource_path(namespace, "daskclusters", name)
    await rt.kube.patch(f"{path}/status", {"status": {"phase": "Closing"}})
    await rt.kube.delete(path, propagation="Foreground")


@kopf.on.resume(CLUSTER, id="resume", backoff=RETRY)
@kopf.on.create(CLUSTER, id="create", backoff=RETRY)
async def on_create(memo: Any, body: kopf.Body, patch: kopf.Patch, **kwargs: Any) -> None:
    if not (body.get("status") or {}).get("phase"):
        patch.status["phase"] = "Pending"
    desired = await reconcile(runtime(memo), Views.of(kwargs), body)
    apply_status(patch, body, desired)


@kopf.on.update(CLUSTER, id="scale", field="spec.worker.replicas", backoff=RETRY)
async def on_scale(memo: Any, body: kopf.Body, new: Any, old: Any, **_: Any) -> None:
    """`kubectl scale daskcluster` (or an edit) resizes the default worker group."""
    if old is None or new is None or m.name_problem(body):
        return
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    path = resource_path(namespace, "daskworkergroups", m.default_worker_group_name(name))
    await runtime(memo).kube.patch(path, {"spec": {"worker": {"replicas": int(new)}}})


@periodic.every(periodic.CLUSTERS, 3.0)
async def converge(rt: Runtime, views: Views, body: dict[str, Any]) -> None:
    if not m.name_problem(body):  # else reconcile only reports why, asking nothing
        if await _close_if_idle(rt, body):
            return
        await _resync(rt, views, body)
    await periodic.write_status(rt, "daskclusters", body, await reconcile(rt, views, body))


async def _resync(rt: Runtime, views: Views, cluster: Mapping[str, Any]) -> None:
    """Now and then, check the cache against the API server: the index's Pods of this cluster
    against a LIST (see `Ghosts`), and its Service and default group by creating them (409)."""
    namespace, name = cluster["metadata"]["namespace"], cluster["metadata"]["name"]
    if rt.ghosts.due(f"{namespace}/{name}"):
        before = cache.cluster_pods(views.pods, namespace, name)
        listed = await rt.kube.list(resource_path(namespace, "pods"), {m.CLUSTER_LABEL: name})
        rt.ghosts.record(before, listed)
        live = (cluster.get("status") or {}).get("phase") in ("Created", "Running")
        if live and not m.is_terminating(cluster):  # not Error (invalid), Closing or deleting
            await _ensure_children(rt, views, cluster, trust_cache=False)


@kopf.on.event("pods", labels={m.COMPONENT_LABEL: "scheduler"})
async def on_scheduler_event(memo: Any, body: kopf.Body, **kwargs: Any) -> None:
    """Reflect scheduler readiness promptly instead of on the next timer tick."""
    cluster = body["metadata"].get("labels", {}).get(m.CLUSTER_LABEL)
    if not is_label(cluster, MAX_CLUSTER_NAME_LENGTH):  # a label anyone who makes Pods can set
        return
    rt, views = runtime(memo), Views.of(kwargs)
    path = resource_path(body["metadata"]["namespace"], "daskclusters", cluster)

    async def run() -> None:
        current = await rt.kube.get(path)
        if current is None or m.is_terminating(current):
            return
        # Through the same StatusWriter as the periodic reconcile: a PATCH past its memory
        # would leave that memory stale (a later change back would then never be written).
        await rt.status.write(rt.kube, path, current, await reconcile(rt, views, current))

    rt.debouncer.trigger(path, run)


@kopf.on.event(CLUSTER, when=lambda body, **_: m.is_terminating(body))
async def on_deleting(memo: Any, body: kopf.Body, **_: Any) -> None:
    """A foreground delete keeps the cluster until its children are gone: say Closing meanwhile.

    `KubeCluster.close()` and `kubectl delete --cascade=foreground` delete that way; a default
    (background) delete removes the DaskCluster at once and its children follow it.
    """
    if (body.get("status") or {}).get("phase") == "Closing":
        return
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    path = resource_path(namespace, "daskclusters", name, "status")
    if await runtime(memo).kube.patch(path, {"status": {"phase": "Closing"}}) is not None:
        events.normal(body, reason="Closing", message="deleting its pods, service and groups")
