"""DaskJob: a DaskCluster plus a runner Pod; the cluster goes away when the runner ends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from dask_kubernetes.common.clock import now
from dask_kubernetes.operator import child_manifests as m
from dask_kubernetes.operator import vocabulary as v
from dask_kubernetes.operator.controller import cluster as cluster_handlers
from dask_kubernetes.operator.controller.kit import cache, events, flow, periodic
from dask_kubernetes.operator.controller.kit.cache import Views
from dask_kubernetes.operator.controller.kit.flow import RETRY
from dask_kubernetes.operator.controller.kit.runtime import Runtime, runtime
from dask_kubernetes.operator.rest import resource_path
from dask_kubernetes.operator.vocabulary import DASK_CLUSTER, DASK_JOB

TERMINAL = ("Successful", "Failed")
_RUNNER_OUTCOME = {"Succeeded": "Successful", "Failed": "Failed"}
# Set once the runner Pod exists: from then on it is never created again, so a runner that
# disappears (evicted by `kubectl drain`, deleted) before it finished fails the job instead of
# running the user's script a second time. Declared in the DaskJob CRD's status schema.
RUNNER_CREATED = "jobRunnerCreated"


def _runner(rt: Runtime, views: Views, namespace: str, name: str) -> dict[str, Any] | None:
    runner = v.job_runner_name(name)
    pods = cache.cluster_pods(views.pods, namespace, name, rt.ghosts)
    return next((p for p in pods if p["metadata"]["name"] == runner), None)


def _lost(runner: str) -> str:
    return (
        f"the runner Pod {runner} was evicted or deleted before it finished; it is not "
        "recreated, so the job's script does not run twice"
    )


def _finished(status: Mapping[str, Any], outcome: str, name: str) -> dict[str, Any]:
    """A terminal status with every field upstream's has (also when the job never ran)."""
    end = now()
    known = {
        "clusterName": name,
        "jobRunnerPodName": v.job_runner_name(name),
        "startTime": end,  # it never ran: it started and ended at once
    }
    missing = {key: value for key, value in known.items() if not status.get(key)}
    return dict(status) | missing | {"jobStatus": outcome, "endTime": end}


async def reconcile(rt: Runtime, views: Views, job: Mapping[str, Any]) -> dict[str, Any]:
    """Advance JobCreated → ClusterCreated → Running → Successful/Failed; return the new status."""
    name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
    status = dict(job.get("status") or {})
    if status.get("jobStatus") in TERMINAL:
        return status
    status.setdefault("jobStatus", "JobCreated")
    problem = m.name_problem(job)
    if problem:
        rt.refusals.report(job, problem)
        return _finished(status, "Failed", name) | {"reason": problem}
    runner = v.job_runner_name(name)
    pods_path = resource_path(namespace, "pods")
    async with rt.locks[f"job/{namespace}/{name}"]:
        # The runner's outcome first: once it has ended, nothing may be (re)created.
        pod = _runner(rt, views, namespace, name)
        if pod is None and status.get(RUNNER_CREATED):
            # The cache may not have seen a just-created runner yet: ask the API server (with
            # the list the operator's RBAC already grants, not a new `get`).
            labels = v.cluster_labels(name, v.JOB_RUNNER)
            listed = await rt.kube.list(pods_path, labels)
            pod = next((p for p in listed if p["metadata"]["name"] == runner), None)
        phase = (pod or {}).get("status", {}).get("phase")
        if phase in _RUNNER_OUTCOME:
            status = _finished(status, _RUNNER_OUTCOME[phase], name)
            if phase == "Failed" and (pod or {}).get("metadata", {}).get("deletionTimestamp"):
                status["reason"] = _lost(runner)
            events.normal(
                job, reason="JobFinished", message=f"runner {phase}; deleting the cluster"
            )
            await cluster_handlers.close(rt, namespace, name)
            return status
        if pod is not None:
            status[RUNNER_CREATED] = True
        elif status.get(RUNNER_CREATED):
            reason = _lost(runner)
            events.warning(job, reason="RunnerLost", message=reason)
            await cluster_handlers.close(rt, namespace, name)
            return _finished(status, "Failed", name) | {"reason": reason}
        cluster = cache.first(views.clusters, namespace, name)
        if cluster is None:
            await rt.kube.create(resource_path(namespace, DASK_CLUSTER.plural), m.job_cluster(job))
        # Start the runner once the scheduler is up, so its Client does not race the scheduler.
        cluster_running = (cluster or {}).get("phase") == "Running"
        if pod is None and cluster_running:
            runner_pod = m.job_runner_pod(job, namespace, (cluster or {}).get("tlsSecret"))
            await rt.kube.create(pods_path, runner_pod)
            status[RUNNER_CREATED] = True
            events.normal(job, reason="RunnerCreated", message=runner)
    if status["jobStatus"] == "JobCreated":
        status |= {"jobStatus": "ClusterCreated", "clusterName": name, "jobRunnerPodName": runner}
    if phase == "Running" and status["jobStatus"] == "ClusterCreated":
        status |= {"jobStatus": "Running", "startTime": now()}
    return status


@kopf.on.resume(DASK_JOB.fqn, id="resume", backoff=RETRY)
@kopf.on.create(DASK_JOB.fqn, id="create", backoff=RETRY)
async def on_create(memo: Any, body: kopf.Body, **kwargs: Any) -> None:
    rt, views = runtime(memo), Views.of(kwargs)
    await flow.first_status(rt, views, DASK_JOB, body, reconcile, {"jobStatus": "JobCreated"})


@periodic.every(DASK_JOB, flow.CONVERGE_INTERVAL)
async def converge(rt: Runtime, views: Views, body: dict[str, Any]) -> None:
    await flow.write_status(rt, DASK_JOB, body, await reconcile(rt, views, body))


def _job_of(body: kopf.Body) -> str | None:
    for ref in body["metadata"].get("ownerReferences") or []:
        # Anyone who can edit the cluster can write its ownerReferences: check the name.
        if ref.get("kind") == DASK_JOB.kind and v.is_cluster_name(ref.get("name")):
            return str(ref["name"])
    return None


@kopf.on.event("pods", labels={v.COMPONENT_LABEL: v.JOB_RUNNER})
async def on_runner_event(memo: Any, body: kopf.Body, **kwargs: Any) -> None:
    """Follow the runner's phase promptly instead of on the next timer tick."""
    _trigger(memo, Views.of(kwargs), body)


@kopf.on.event(DASK_CLUSTER.fqn)
async def on_cluster_event(memo: Any, body: kopf.Body, **kwargs: Any) -> None:
    """A job's cluster changed (e.g. became Running): advance the job promptly."""
    _trigger(memo, Views.of(kwargs), body)


def _trigger(memo: Any, views: Views, body: kopf.Body) -> None:
    job = _job_of(body)
    if not job:
        return
    namespace = body["metadata"]["namespace"]
    # A job is followed while it is being deleted too: its runner's outcome still counts.
    flow.reconcile_soon(
        runtime(memo), views, DASK_JOB, namespace, job, reconcile, while_deleting=True
    )
