"""DaskAutoscaler: follow the scheduler's adaptive target within [minimum, maximum]."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import kopf

from dask_kubernetes.operator import manifests as m
from dask_kubernetes.operator.controller import events, periodic
from dask_kubernetes.operator.controller.cache import Views
from dask_kubernetes.operator.controller.runtime import Runtime, runtime
from dask_kubernetes.operator.kube import resource_path
from dask_kubernetes.operator.scheduler_client import SchedulerClient, SchedulerUnavailable

AUTOSCALER = "daskautoscalers.kubernetes.dask.org"
COOLDOWN_ANNOTATION = "kubernetes.dask.org/cooldown-until"
INTERVAL = float(os.environ.get("DASK_KUBERNETES_OPERATOR_AUTOSCALER_INTERVAL", "5"))
COOLDOWN = float(os.environ.get("DASK_KUBERNETES_OPERATOR_AUTOSCALER_COOLDOWN", "15"))
RETRY = 1.0


async def reconcile(rt: Runtime, autoscaler: Mapping[str, Any]) -> dict[str, Any]:
    """One autoscaling step; returns the status to show (desired workers or why nothing moved)."""
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
    group_path = resource_path(namespace, "daskworkergroups", m.default_worker_group_name(cluster))
    group = await rt.kube.get(group_path)
    if group is None:
        return {"reason": f"worker group of DaskCluster {cluster} not found"}
    try:
        target = await SchedulerClient.for_cluster(rt.kube, namespace, cluster).adaptive_target()
    except SchedulerUnavailable:
        return {"reason": "scheduler not reachable yet"}
    current = int(group["spec"]["worker"].get("replicas", 1))
    desired = m.clamp_replicas(target, minimum, maximum, current)
    if desired != current:
        await rt.kube.patch(group_path, {"spec": {"worker": {"replicas": desired}}})
        until = str(time.time() + COOLDOWN)
        await rt.kube.patch(
            resource_path(namespace, "daskautoscalers", meta["name"]),
            {"metadata": {"annotations": {COOLDOWN_ANNOTATION: until}}},
        )
        events.normal(
            autoscaler, reason="Scaled", message=f"{cluster}: {current} -> {desired} workers"
        )
    return {"desired": desired, "reason": ""}


@kopf.on.create(AUTOSCALER, id="adopt", backoff=RETRY)
async def on_create(memo: Any, body: kopf.Body, **_: Any) -> None:
    """Make the autoscaler a child of its cluster so it is deleted with it."""
    rt = runtime(memo)
    namespace = body["metadata"]["namespace"]
    if body["metadata"].get("ownerReferences") or m.name_problem(body):
        return  # an invalid one: the timer says why
    cluster = await rt.kube.get(resource_path(namespace, "daskclusters", body["spec"]["cluster"]))
    if cluster is None:
        raise kopf.TemporaryError("its DaskCluster does not exist yet", delay=5)
    await rt.kube.patch(
        resource_path(namespace, "daskautoscalers", body["metadata"]["name"]),
        {"metadata": {"ownerReferences": [m.owner_reference(cluster, controller=False)]}},
    )


@periodic.every(periodic.AUTOSCALERS, INTERVAL)
async def adapt(rt: Runtime, views: Views, body: dict[str, Any]) -> None:
    await periodic.write_status(rt, "daskautoscalers", body, await reconcile(rt, body))
