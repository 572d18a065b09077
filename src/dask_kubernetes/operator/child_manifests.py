"""What the controller creates for a Dask resource: its dict in, the children's manifests out.

The Pods, Service, worker group and job cluster that the controller derives from a resource, with
the labels, annotations and owner references that tie them to it. KubeCluster's builders
(`kubecluster/resource_manifests.py`) make the other half: the Dask resources a user submits.
Two because they face two readers: those follow upstream's user-facing functions to the byte,
these follow what the controller needs. Pure (no I/O), so every shape is unit tested without
a cluster, and handlers stay thin.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterable, Mapping
from typing import Any, cast

import kopf

from dask_kubernetes.operator import dask_tls
from dask_kubernetes.operator import vocabulary as v
from dask_kubernetes.operator.vocabulary import InvalidName, check_cluster_name

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
#: A TLS cluster's: the JSON API only behind the token (`dask_tls.API_GUARD_PRELOAD`).
TLS_SCHEDULER_ROUTES = tuple(r for r in SCHEDULER_ROUTES if not r.endswith(".api"))

Manifest = dict[str, Any]


def check_names(obj: Mapping[str, Any]) -> None:
    """Raise `InvalidName` unless every name in `obj` that the operator builds on is valid.

    Its own name when names are derived from it (a cluster's Service, a job's cluster, a group's
    Pods and label), and `spec.cluster`, which names another object. The CRD schemas say the
    same, but an object stored before they did (or under a looser CRD) is refused here.
    """
    kind, meta = obj.get("kind"), obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    if kind in (v.DASK_CLUSTER.kind, v.DASK_JOB.kind):
        check_cluster_name(meta.get("name"), f"{kind} name")
    elif kind == v.DASK_WORKER_GROUP.kind:
        v.check_worker_group_name(meta.get("name"))
        check_cluster_name(spec.get("cluster"), f"{kind} spec.cluster")
    elif kind == v.DASK_AUTOSCALER.kind:
        check_cluster_name(spec.get("cluster"), f"{kind} spec.cluster")
    else:
        raise InvalidName(f"not a Dask resource: kind {kind!r}")


def name_problem(obj: Mapping[str, Any]) -> str | None:
    """Why `check_names` refuses `obj`, or None when it may be acted on."""
    try:
        check_names(obj)
    except InvalidName as exc:
        return str(exc)
    return None


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


def _with_env(
    pod_spec: Mapping[str, Any],
    env: Mapping[str, str],
    more: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A copy of `pod_spec` whose containers get each variable unless they already set it
    (`env` as values, `more` as whole EnvVar entries, e.g. from a Secret)."""
    spec = copy.deepcopy(dict(pod_spec))
    wanted = [{"name": k, "value": val} for k, val in env.items()] + [dict(e) for e in more]
    for container in spec.get("containers") or []:
        current = container["env"] = list(container.get("env") or [])  # `env: null` is allowed
        present = {item.get("name") for item in current}
        current.extend(copy.deepcopy(item) for item in wanted if item["name"] not in present)
    return spec


def tls_secret_name(cluster: Mapping[str, Any]) -> str | None:
    """The TLS Secret of a DaskCluster with `spec.tls`, else None."""
    if not dask_tls.tls_enabled(cluster.get("spec")):
        return None
    return v.tls_secret_name(cluster["metadata"]["name"], cluster["metadata"]["uid"])


def tls_secret(cluster: Mapping[str, Any], api_token: str) -> Manifest:
    """A TLS cluster's Secret: fresh CA and certificates, and the scheduler's API token.

    Owned by the cluster (not as its controller), so the garbage collector removes it with it.
    """
    name = tls_secret_name(cluster)
    assert name is not None, "only a TLS cluster has a TLS Secret"
    meta = cluster["metadata"]
    data = dask_tls.issue_credentials(meta["namespace"], meta["name"])
    data[v.TLS_API_TOKEN_KEY] = api_token
    metadata: dict[str, Any] = {"name": name, "labels": v.cluster_labels(meta["name"])}
    kopf.append_owner_reference(
        {"metadata": metadata}, owner=cast(kopf.Body, cluster), controller=False
    )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def _metadata(
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    owner: Mapping[str, Any] | None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    if owner is not None:  # the controller reference: kubectl drain and the GC follow it
        kopf.append_owner_reference({"metadata": meta}, owner=cast(kopf.Body, owner))
    return meta


def scheduler_pod(cluster: Mapping[str, Any]) -> Manifest:
    """The scheduler Pod, with the JSON API route enabled so the operator can retire workers."""
    scheduler = cluster["spec"]["scheduler"]
    secret = tls_secret_name(cluster)
    routes = SCHEDULER_ROUTES if secret is None else TLS_SCHEDULER_ROUTES
    tls_env = [] if secret is None else dask_tls.pod_env("scheduler", secret)
    spec = _with_env(scheduler["spec"], {SCHEDULER_ROUTES_ENV: repr(list(routes))}, tls_env)
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
    return _metadata(
        v.scheduler_name(name), labels | v.scheduler_labels(name), annotations, cluster
    )


def scheduler_service(cluster: Mapping[str, Any]) -> Manifest:
    name = cluster["metadata"]["name"]
    spec = copy.deepcopy(dict(cluster["spec"]["scheduler"]["service"]))
    spec.setdefault("selector", v.scheduler_labels(name))
    spec.setdefault(
        "ports",
        [
            {
                "name": v.SCHEDULER_PORT_NAME,
                "port": v.SCHEDULER_PORT,
                "targetPort": v.SCHEDULER_PORT_NAME,
            },
            {
                "name": v.DASHBOARD_PORT_NAME,
                "port": v.DASHBOARD_PORT,
                "targetPort": v.DASHBOARD_PORT_NAME,
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
    labels |= v.cluster_labels(name, v.WORKER_GROUP)
    worker.setdefault("replicas", 1)
    return {
        "apiVersion": v.API_VERSION,
        "kind": v.DASK_WORKER_GROUP.kind,
        "metadata": _metadata(v.default_worker_group_name(name), labels, annotations, cluster),
        "spec": {"cluster": name, "worker": worker},
    }


def worker_pod(
    worker_group: Mapping[str, Any], namespace: str, index: int, tls_secret: str | None = None
) -> Manifest:
    """Worker `index` of a group; the deterministic name makes a repeated create a harmless 409.

    `tls_secret`: the cluster's TLS Secret when it has one (the group does not say).
    """
    group = worker_group["metadata"]["name"]
    cluster = worker_group["spec"]["cluster"]
    worker = worker_group["spec"]["worker"]
    labels, annotations = child_metadata(worker_group["metadata"], worker.get("metadata"), MOVABLE)
    labels |= v.worker_labels(cluster, group)
    name = v.worker_pod_name(group, index)
    env = {
        "DASK_WORKER_NAME": name,
        "DASK_SCHEDULER_ADDRESS": v.scheduler_address(cluster, namespace, bool(tls_secret)),
    }
    tls_env = dask_tls.pod_env("worker", tls_secret) if tls_secret else []
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _metadata(name, labels, annotations, worker_group),
        "spec": _with_env(worker["spec"], env, tls_env),
    }


def free_worker_indices(worker_group: str, existing: Iterable[str], count: int) -> list[int]:
    """The `count` lowest indices not used by an existing pod name."""
    taken = {v.worker_index(worker_group, name) for name in existing}
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
    labels |= v.cluster_labels(name)
    return {
        "apiVersion": v.API_VERSION,
        "kind": v.DASK_CLUSTER.kind,
        "metadata": _metadata(name, labels, annotations, job),
        "spec": copy.deepcopy(dict(cluster["spec"])),
    }


def job_runner_pod(
    job: Mapping[str, Any], namespace: str, tls_secret: str | None = None
) -> Manifest:
    """The job's runner; a client of its cluster (with the client certificate when TLS)."""
    name = job["metadata"]["name"]
    runner = job["spec"]["job"]
    labels, annotations = child_metadata(job["metadata"], runner.get("metadata"), PINNED)
    labels |= v.cluster_labels(name, v.JOB_RUNNER)
    address = v.scheduler_address(name, namespace, bool(tls_secret))
    tls_env = dask_tls.pod_env("client", tls_secret) if tls_secret else []
    spec = _with_env(runner["spec"], {"DASK_SCHEDULER_ADDRESS": address}, tls_env)
    spec.setdefault("restartPolicy", "Never")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _metadata(v.job_runner_name(name), labels, annotations, job),
        "spec": spec,
    }


def is_terminating(obj: Mapping[str, Any]) -> bool:
    """Marked for deletion (a Pod shutting down, a cluster waiting for its children)."""
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


def clamp_replicas(desired: int, minimum: int, maximum: int, current: int) -> int:
    """Autoscaler target: within [minimum, maximum], shrinking at most a quarter per step."""
    target = min(max(desired, minimum), maximum)
    if current > 0 and target < current:
        target = max(target, current - max(1, current // 4))
    return target
