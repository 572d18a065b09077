"""DaskCluster: scheduler Pod + Service + default worker group, and the phase that reports them."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import kopf

from dask_kubernetes.common.pods import is_ready, is_terminal
from dask_kubernetes.operator import child_manifests as m
from dask_kubernetes.operator import dask_tls
from dask_kubernetes.operator import vocabulary as v
from dask_kubernetes.operator.controller.kit import cache, events, flow, periodic
from dask_kubernetes.operator.controller.kit.cache import Views
from dask_kubernetes.operator.controller.kit.flow import RETRY
from dask_kubernetes.operator.controller.kit.runtime import Runtime, runtime
from dask_kubernetes.operator.controller.kit.status import with_condition
from dask_kubernetes.operator.rest import resource_path
from dask_kubernetes.operator.scheduler_client import SchedulerClient, SchedulerUnavailable
from dask_kubernetes.operator.vocabulary import DASK_CLUSTER, DASK_WORKER_GROUP

logger = logging.getLogger(__name__)


async def _ensure_scheduler(
    rt: Runtime, cluster: Mapping[str, Any], pods: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The live scheduler Pod, (re)creating it when missing or finished."""
    namespace = cluster["metadata"]["namespace"]
    scheduler = next(
        (p for p in pods if p["metadata"]["labels"].get(v.COMPONENT_LABEL) == v.SCHEDULER), None
    )
    if scheduler is not None and is_terminal(scheduler) and not m.is_terminating(scheduler):
        await rt.kube.delete(resource_path(namespace, "pods", scheduler["metadata"]["name"]))
        events.warning(
            cluster, reason="SchedulerFailed", message="scheduler Pod ended; replacing it"
        )
        return None
    if scheduler is None:
        await _ensure_tls_secret(rt, cluster)
    if scheduler is None and await rt.kube.create(
        resource_path(namespace, "pods"), m.scheduler_pod(cluster)
    ):
        events.normal(
            cluster,
            reason="SchedulerCreated",
            message=v.scheduler_name(cluster["metadata"]["name"]),
        )
    return scheduler


async def _ensure_tls_secret(rt: Runtime, cluster: Mapping[str, Any]) -> None:
    """A TLS cluster's Secret, before the scheduler Pod that reads it.

    Its name holds the cluster's uid, so a 409 means this cluster's own Secret exists: made
    once, never read back (the operator may create Secrets, not read them).
    """
    name = m.tls_secret_name(cluster)
    if name is None:
        return
    meta = cluster["metadata"]
    token = dask_tls.api_token(
        dask_tls.operator_key(), meta["namespace"], meta["name"], meta["uid"]
    )
    if await rt.kube.create(
        resource_path(meta["namespace"], "secrets"), m.tls_secret(cluster, token)
    ):
        events.normal(cluster, reason="TLSSecretCreated", message=name)


async def _ensure_children(
    rt: Runtime, views: Views, cluster: Mapping[str, Any], *, trust_cache: bool = True
) -> None:
    """The Service and default worker group, created when the cache lacks them (or, with
    `trust_cache=False`, created anyway: a 409 then confirms they exist)."""
    namespace, name = cluster["metadata"]["namespace"], cluster["metadata"]["name"]
    service = m.scheduler_service(cluster)
    cached = trust_cache and cache.exists(views.services, namespace, service["metadata"]["name"])
    if not cached and await rt.kube.create(resource_path(namespace, "services"), service):
        events.normal(cluster, reason="ServiceCreated", message=v.scheduler_name(name))
    group = m.default_worker_group(cluster)
    cached = trust_cache and cache.exists(views.groups, namespace, group["metadata"]["name"])
    groups = resource_path(namespace, DASK_WORKER_GROUP.plural)
    if not cached and await rt.kube.create(groups, group):
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
    ready = scheduler is not None and is_ready(scheduler)
    group = v.default_worker_group_name(name)
    workers = [
        p
        for p in pods
        if p["metadata"]["labels"].get(v.WORKERGROUP_LABEL) == group
        and not m.is_terminating(p)
        and not is_terminal(p)
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
        scheduler = SchedulerClient.for_cluster(rt.kube, namespace, name, _uid(cluster))
        idle_since = await scheduler.idle_since()
    except SchedulerUnavailable:
        return False
    if idle_since is None or time.time() < idle_since + timeout:
        return False
    events.normal(cluster, reason="IdleTimeout", message=f"idle for over {timeout}s; deleting")
    await close(rt, namespace, name)
    return True


def _uid(cluster: Mapping[str, Any]) -> str | None:
    uid = cluster["metadata"].get("uid")
    return str(uid) if uid else None


async def close(rt: Runtime, namespace: str, name: str) -> None:
    """Mark a cluster Closing, then delete it in the foreground.

    It stays visible, Closing, until the garbage collector has removed its Pods, Service and
    worker groups (their ownerReferences block its deletion), so "gone" means all gone.
    """
    path = resource_path(namespace, DASK_CLUSTER.plural, name)
    await rt.kube.patch(f"{path}/status", {"status": {"phase": "Closing"}})
    await rt.kube.delete(path, propagation="Foreground")


@kopf.on.resume(DASK_CLUSTER.fqn, id="resume", backoff=RETRY)
@kopf.on.create(DASK_CLUSTER.fqn, id="create", backoff=RETRY)
async def on_create(memo: Any, body: kopf.Body, **kwargs: Any) -> None:
    """Seen: `phase: Pending` at once (what KubeCluster waits for), then the first reconcile."""
    rt, views = runtime(memo), Views.of(kwargs)
    await flow.first_status(rt, views, DASK_CLUSTER, body, reconcile, {"phase": "Pending"})


@kopf.on.update(DASK_CLUSTER.fqn, id="scale", field="spec.worker.replicas", backoff=RETRY)
async def on_scale(memo: Any, body: kopf.Body, new: Any, old: Any, **_: Any) -> None:
    """`kubectl scale daskcluster` (or an edit) resizes the default worker group."""
    if old is None or new is None or m.name_problem(body):
        return
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    path = resource_path(namespace, DASK_WORKER_GROUP.plural, v.default_worker_group_name(name))
    await runtime(memo).kube.patch(path, {"spec": {"worker": {"replicas": int(new)}}})


@periodic.every(DASK_CLUSTER, flow.CONVERGE_INTERVAL)
async def converge(rt: Runtime, views: Views, body: dict[str, Any]) -> None:
    if not m.name_problem(body):  # else reconcile only reports why, asking nothing
        if await _close_if_idle(rt, body):
            return
        await _resync(rt, views, body)
    await flow.write_status(rt, DASK_CLUSTER, body, await reconcile(rt, views, body))


async def _resync(rt: Runtime, views: Views, cluster: Mapping[str, Any]) -> None:
    """Now and then, check the cache against the API server: the index's Pods of this cluster
    against a LIST (see `Ghosts`), and its Service and default group by creating them (409)."""
    namespace, name = cluster["metadata"]["namespace"], cluster["metadata"]["name"]
    if rt.ghosts.due(f"{namespace}/{name}"):
        before = cache.cluster_pods(views.pods, namespace, name)
        listed = await rt.kube.list(resource_path(namespace, "pods"), v.cluster_labels(name))
        rt.ghosts.record(before, listed)
        live = (cluster.get("status") or {}).get("phase") in ("Created", "Running")
        if live and not m.is_terminating(cluster):  # not Error (invalid), Closing or deleting
            await _ensure_children(rt, views, cluster, trust_cache=False)


@kopf.on.event("pods", labels={v.COMPONENT_LABEL: v.SCHEDULER})
async def on_scheduler_event(memo: Any, body: kopf.Body, **kwargs: Any) -> None:
    """Reflect scheduler readiness promptly instead of on the next timer tick."""
    cluster = body["metadata"].get("labels", {}).get(v.CLUSTER_LABEL)
    if not v.is_cluster_name(cluster):  # a label anyone who makes Pods can set
        return
    namespace = body["metadata"]["namespace"]
    flow.reconcile_soon(
        runtime(memo), Views.of(kwargs), DASK_CLUSTER, namespace, cluster, reconcile
    )


@kopf.on.event(DASK_CLUSTER.fqn, when=lambda body, **_: m.is_terminating(body))
async def on_deleting(memo: Any, body: kopf.Body, **_: Any) -> None:
    """A foreground delete keeps the cluster until its children are gone: say Closing meanwhile.

    `KubeCluster.close()` and `kubectl delete --cascade=foreground` delete that way; a default
    (background) delete removes the DaskCluster at once and its children follow it.
    """
    if (body.get("status") or {}).get("phase") == "Closing":
        return
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    path = resource_path(namespace, DASK_CLUSTER.plural, name, "status")
    if await runtime(memo).kube.patch(path, {"status": {"phase": "Closing"}}) is not None:
        events.normal(body, reason="Closing", message="deleting its pods, service and groups")
