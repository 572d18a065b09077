"""Pure builders for everything the operator creates: a resource's dict in, a manifest dict out.

No I/O here, so the shape of every object is unit tested without a cluster, and handlers stay thin.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from dask_kubernetes.operator.crds import API_VERSION
from dask_kubernetes.operator.names import (
    SCHEDULER_SUFFIX,
    InvalidName,
    check_cluster_name,
    check_worker_group_name,
)

CLUSTER_LABEL = "dask.org/cluster-name"
COMPONENT_LABEL = "dask.org/component"
WORKERGROUP_LABEL = "dask.org/workergroup-name"

SCHEDULER_PORT = 8786
SCHEDULER_PORT_NAME = "tcp-comm"
DASHBOARD_PORT = 8787
DASHBOARD_PORT_NAME = "http-dashboard"

#: The cluster autoscaler moves a Pod of a custom controller only when this says "true".
#: Workers are replaceable (the operator recreates them, the scheduler recomputes their data);
#: the scheduler and a job's runner are not. `kubectl drain` needs only the controller
#: ownerReference every Pod of ours has. A user's own annotation wins.
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
MOVABLE = {SAFE_TO_EVICT: "true"}
PINNED = {SAFE_TO_EVICT: "false"}

#: Metadata prefixes owned by kopf and kubectl: copying them would confuse those tools.
IGNORED_PREFIXES = ("kopf.zalando.org", "kubectl.kubernetes.io")

#: The scheduler's default HTTP routes plus the JSON API the operator talks to.
SCHEDULER_ROUTES_ENV = "DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES"
SCHEDULER_ROUTES = (
    "distributed.http.scheduler.prometheus",
    "distributed.http.scheduler.info",
    "distributed.http.scheduler.json",
    "distributed.http.health",
    "distributed.http.proxy",
    "distributed.http.statics",
    "distributed.http.scheduler.api",
)

Manifest = dict[str, Any]


def check_names(obj: Mapping[str, Any]) -> None:
    """Raise `InvalidName` unless every name in `obj` that the operator builds on is valid.

    Its own name when names are derived from it (a cluster's Service, a job's cluster, a group's
    Pods and label), and `spec.cluster`, which names another object. The CRD schemas say the
    same, but an object stored before they did (or under a looser CRD) is refused here.
    """
    kind, meta = obj.get("kind"), obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    if kind in ("DaskCluster", "DaskJob"):
        check_cluster_name(meta.get("name"), f"{kind} name")
    elif kind == "DaskWorkerGroup":
        check_worker_group_name(meta.get("name"))
        check_cluster_name(spec.get("cluster"), "DaskWorkerGroup spec.cluster")
    elif kind == "DaskAutoscaler":
        check_cluster_name(spec.get("cluster"), "DaskAutoscaler spec.cluster")
    else:
        raise InvalidName(f"not a Dask resource: kind {kind!r}")


def name_problem(obj: Mapping[str, Any]) -> str | None:
    """Why `check_names` refuses `obj`, or None when it may be acted on."""
    try:
        check_names(obj)
    except InvalidName as exc:
        return str(exc)
    return None


def scheduler_name(cluster: str) -> str:
    return f"{cluster}{SCHEDULER_SUFFIX}"


def default_worker_group_name(cluster: str) -> str:
    return f"{cluster}-default"


def job_runner_name(job: str) -> str:
    return f"{job}-runner"


def worker_pod_name(worker_group: str, index: int) -> str:
    return f"{worker_group}-worker-{index}"


def scheduler_address(cluster: str, namespace: str) -> str:
    return f"tcp://{scheduler_name(cluster)}.{namespace}.svc.cluster.local:{SCHEDULER_PORT}"


def propagated(values: Mapping[str, str] | None) -> dict[str, str]:
    """Labels or annotations to copy onto children: all but kopf's and kubectl's own."""
    return {
        key: value for key, value in (values or {}).items() if not key.startswith(IGNORED_PREFIXES)
    }


def child_metadata(
    parent_meta: Mapping[str, Any],
    template_meta: Mapping[str, Any] | None,
    defaults: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) for a child: `defaults` (annotations), then the parent's, then the
    spec's own metadata, each overriding the one before."""
    template_meta = template_meta or {}
    labels = propagated(parent_meta.get("labels")) | dict(template_meta.get("labels") or {})
    annotations = (
        dict(defaults or {})
        | propagated(parent_meta.get("annotations"))
        | dict(template_meta.get("annotations") or {})
    )
    return labels, annotations


def owner_reference(owner: Mapping[str, Any], *, controller: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def _with_env(pod_spec: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """A copy of `pod_spec` whose containers get each variable unless they already set it."""
    spec = copy.deepcopy(dict(pod_spec))
    for container in spec.get("containers") or []:
        current = container["env"] = list(container.get("env") or [])  # `env: null` is allowed
        present = {item.get("name") for item in current}
        current.extend({"name": k, "value": v} for k, v in env.items() if k not in present)
    return spec


def _metadata(
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    owner: Mapping[str, Any] | None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    if owner is not None:
        meta["ownerReferences"] = [owner_reference(owner)]
    return meta


def scheduler_labels(cluster: str) -> dict[str, str]:
    return {CLUSTER_LABEL: cluster, COMPONENT_LABEL: "scheduler"}


def worker_labels(cluster: str, worker_group: str) -> dict[str, str]:
    return {CLUSTER_LABEL: cluster, COMPONENT_LABEL: "worker", WORKERGROUP_LABEL: worker_group}


def label_selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def scheduler_pod(cluster: Mapping[str, Any]) -> Manifest:
    """The scheduler Pod, with the JSON API route enabled so the operator can retire workers."""
    scheduler = cluster["spec"]["scheduler"]
    spec = _with_env(scheduler["spec"], {SCHEDULER_ROUTES_ENV: repr(list(SCHEDULER_ROUTES))})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _scheduler_metadata(cluster, PINNED),
        "spec": spec,
    }


def _scheduler_metadata(
    cluster: Mapping[str, Any], defaults: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Scheduler Pod and Service share name, labels, annotations and owner."""
    name = cluster["metadata"]["name"]
    scheduler = cluster["spec"]["scheduler"]
    labels, annotations = child_metadata(cluster["metadata"], scheduler.get("metadata"), defaults)
    return _metadata(scheduler_name(name), labels | scheduler_labels(name), annotations, cluster)


def scheduler_service(cluster: Mapping[str, Any]) -> Manifest:
    name = cluster["metadata"]["name"]
    spec = copy.deepcopy(dict(cluster["spec"]["scheduler"]["service"]))
    spec.setdefault("selector", scheduler_labels(name))
    spec.setdefault(
        "ports",
        [
            {
                "name": SCHEDULER_PORT_NAME,
                "port": SCHEDULER_PORT,
                "targetPort": SCHEDULER_PORT_NAME,
            },
            {
                "name": DASHBOARD_PORT_NAME,
                "port": DASHBOARD_PORT,
                "targetPort": DASHBOARD_PORT_NAME,
            },
        ],
    )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _scheduler_metadata(cluster),
        "spec": spec,
    }


def default_worker_group(cluster: Mapping[str, Any]) -> Manifest:
    name = cluster["metadata"]["name"]
    worker = copy.deepcopy(dict(cluster["spec"]["worker"]))
    labels, annotations = child_metadata(cluster["metadata"], None)
    labels |= {CLUSTER_LABEL: name, COMPONENT_LABEL: "workergroup"}
    worker.setdefault("replicas", 1)
    return {
        "apiVersion": API_VERSION,
        "kind": "DaskWorkerGroup",
        "metadata": _metadata(default_worker_group_name(name), labels, annotations, cluster),
        "spec": {"cluster": name, "worker": worker},
    }


def worker_pod(worker_group: Mapping[str, Any], namespace: str, index: int) -> Manifest:
    """Worker `index` of a group; the deterministic name makes a repeated create a harmless 409."""
    group = worker_group["metadata"]["name"]
    cluster = worker_group["spec"]["cluster"]
    worker = worker_group["spec"]["worker"]
    labels, annotations = child_metadata(worker_group["metadata"], worker.get("metadata"), MOVABLE)
    labels |= worker_labels(cluster, group)
    name = worker_pod_name(group, index)
    env = {
        "DASK_WORKER_NAME": name,
        "DASK_SCHEDULER_ADDRESS": scheduler_address(cluster, namespace),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _metadata(name, labels, annotations, worker_group),
        "spec": _with_env(worker["spec"], env),
    }


def worker_index(worker_group: str, pod_name: str) -> int | None:
    prefix = f"{worker_group}-worker-"
    suffix = pod_name.removeprefix(prefix)
    return int(suffix) if pod_name.startswith(prefix) and suffix.isdigit() else None


def free_worker_indices(worker_group: str, existing: Iterable[str], count: int) -> list[int]:
    """The `count` lowest indices not used by an existing pod name."""
    taken = {worker_index(worker_group, name) for name in existing}
    free: list[int] = []
    index = 0
    while len(free) < count:
        if index not in taken:
            free.append(index)
        index += 1
    return free


def job_cluster(job: Mapping[str, Any]) -> Manifest:
    """The DaskCluster a DaskJob runs on: named after the job, owned by it."""
    name = job["metadata"]["name"]
    cluster = job["spec"]["cluster"]
    labels, annotations = child_metadata(job["metadata"], cluster.get("metadata"))
    labels |= {CLUSTER_LABEL: name}
    return {
        "apiVersion": API_VERSION,
        "kind": "DaskCluster",
        "metadata": _metadata(name, labels, annotations, job),
        "spec": copy.deepcopy(dict(cluster["spec"])),
    }


def job_runner_pod(job: Mapping[str, Any], namespace: str) -> Manifest:
    name = job["metadata"]["name"]
    runner = job["spec"]["job"]
    labels, annotations = child_metadata(job["metadata"], runner.get("metadata"), PINNED)
    labels |= {CLUSTER_LABEL: name, COMPONENT_LABEL: "job-runner"}
    spec = _with_env(runner["spec"], {"DASK_SCHEDULER_ADDRESS": scheduler_address(name, namespace)})
    spec.setdefault("restartPolicy", "Never")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _metadata(job_runner_name(name), labels, annotations, job),
        "spec": spec,
    }


def condition(kind: str, status: bool, reason: str, message: str, now: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
    }


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pod_is_finished(pod: Mapping[str, Any]) -> bool:
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed")


def is_terminating(obj: Mapping[str, Any]) -> bool:
    """Marked for deletion (a Pod shutting down, a cluster waiting for its children)."""
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


def clamp_replicas(desired: int, minimum: int, maximum: int, current: int) -> int:
    """Autoscaler target: within [minimum, maximum], shrinking at most a quarter per step."""
    target = min(max(desired, minimum), maximum)
    if current > 0 and target < current:
        target = max(target, current - max(1, current // 4))
    return target
