"""DaskAutoscaler: follow the scheduler's adaptive target within [minimum, maximum]."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import kopf

from dask_kubernetes.operator import child_manifests as m
from dask_kubernetes.operator import vocabulary as v
from dask_kubernetes.operator.controller.kit import cache, events, flow, periodic
from dask_kubernetes.operator.controller.kit.cache import Views
from dask_kubernetes.operator.controller.kit.flow import RETRY
from dask_kubernetes.operator.controller.kit.runtime import Runtime, runtime
from dask_kubernetes.operator.rest import resource_path
from dask_kubernetes.operator.scheduler_client import SchedulerClient, SchedulerUnavailable
from dask_kubernetes.operator.vocabulary import (
    COOLDOWN_ANNOTATION,
    DASK_AUTOSCALER,
    DASK_WORKER_GROUP,
)


async def reconcile(
    rt: Runtime, autoscaler: Mapping[str, Any], cluster_uid: str | None = None
) -> dict[str, Any]:
    """One autoscaling step; returns the status to show (desired workers or why nothing moved).

    `cluster_uid`: its cluster's, for the scheduler's API token."""
    meta, spec = autoscaler["metadata"], autoscaler["spec"]
    namespace, cluster = meta["namespace"], spec["cluster"]
    problem = m.name_problem(autoscaler)
    if problem:
        rt.refusals.report(autoscaler, problem)
        return {"reason": problem}
    minimum, maximum = int(spec["minimum"]), int(spec["maximum"])
    if minimum > maximum:
        reason = f"minimum {minimum} is above maximum {maximum}"
        if (autoscaler.get("status") or {}).get("reason") != reason:  # once, not every tick
            events.warning(autoscaler, reason="InvalidSpec", message=reason)
        return {"reason": reason}
    if time.time() < float((meta.get("annotations") or {}).get(COOLDOWN_ANNOTATION, 0)):
        return {}
    group_path = resource_path(
        namespace, DASK_WORKER_GROUP.plural, v.default_worker_group_name(cluster)
    )
    group = await rt.kube.get(group_path)
    if group is None:
        return {"reason": f"worker group of DaskCluster {cluster} not found"}
    try:
        scheduler = SchedulerClient.for_cluster(rt.kube, namespace, cluster, cluster_uid)
        target = await scheduler.adaptive_target()
    except SchedulerUnavailable:
        return {"reason": "scheduler not reachable yet"}
    current = int(group["spec"]["worker"].get("replicas", 1))
    desired = m.clamp_replicas(target, minimum, maximum, current)
    if desired != current:
        await rt.kube.patch(group_path, {"spec": {"worker": {"replicas": desired}}})
        until = str(time.time() + flow.AUTOSCALE_COOLDOWN)
        await rt.kube.patch(
            flow.path_of(DASK_AUTOSCALER, autoscaler),
            {"metadata": {"annotations": {COOLDOWN_ANNOTATION: until}}},
        )
        events.normal(
            autoscaler, reason="Scaled", message=f"{cluster}: {current} -> {desired} workers"
        )
    return {"desired": desired, "reason": ""}


@kopf.on.create(DASK_AUTOSCALER.fqn, id="adopt", backoff=RETRY)
async def on_create(memo: Any, body: kopf.Body, **_: Any) -> None:
    """Make the autoscaler a child of its cluster so it is deleted with it."""
    if body["metadata"].get("ownerReferences") or m.name_problem(body):
        return  # an invalid one: the timer says why
    cluster = body["spec"]["cluster"]
    if not await flow.adopt(runtime(memo), DASK_AUTOSCALER, body, cluster, controller=False):
        raise kopf.TemporaryError("its DaskCluster does not exist yet", delay=5)


@periodic.every(DASK_AUTOSCALER, flow.AUTOSCALE_INTERVAL)
async def adapt(rt: Runtime, views: Views, body: dict[str, Any]) -> None:
    meta, spec = body["metadata"], body.get("spec") or {}
    known = cache.first(views.clusters, meta["namespace"], str(spec.get("cluster")))
    uid = (known or {}).get("uid")
    await flow.write_status(rt, DASK_AUTOSCALER, body, await reconcile(rt, body, uid))
