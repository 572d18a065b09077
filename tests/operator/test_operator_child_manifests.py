"""Pure manifest builders: names, labels, env, ownership, metadata propagation."""

from __future__ import annotations

import copy
from typing import Any

import operator_examples as examples
import pytest

from dask_kubernetes.common import pods
from dask_kubernetes.operator import child_manifests as m
from dask_kubernetes.operator import vocabulary as v


def _with_meta(obj: dict[str, Any], **meta: Any) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"] |= {"namespace": "ns", "uid": "uid-1"} | meta
    return obj


@pytest.fixture
def cluster() -> dict[str, Any]:
    return _with_meta(
        examples.SIMPLE_CLUSTER,
        labels={"team": "a", "kopf.zalando.org/x": "no"},
        annotations={"note": "yes", "kubectl.kubernetes.io/last-applied-configuration": "{}"},
    )


def _env(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}


def test_scheduler_pod(cluster: dict[str, Any]) -> None:
    pod = m.scheduler_pod(cluster)
    assert pod["metadata"]["name"] == "simple-scheduler"
    labels = pod["metadata"]["labels"]
    assert labels[v.CLUSTER_LABEL] == "simple" and labels[v.COMPONENT_LABEL] == "scheduler"
    assert labels["team"] == "a" and "kopf.zalando.org/x" not in labels
    assert pod["metadata"]["annotations"] == {"note": "yes"} | m.PINNED
    (owner,) = pod["metadata"]["ownerReferences"]
    assert owner["kind"] == "DaskCluster" and owner["uid"] == "uid-1" and owner["controller"]
    assert "distributed.http.scheduler.api" in _env(pod)[m.SCHEDULER_ROUTES_ENV]
    assert cluster["spec"]["scheduler"]["spec"]["containers"][0].get("env") is None, "input mutated"


def test_user_env_wins(cluster: dict[str, Any]) -> None:
    container = cluster["spec"]["scheduler"]["spec"]["containers"][0]
    container["env"] = [{"name": m.SCHEDULER_ROUTES_ENV, "value": "mine"}]
    assert _env(m.scheduler_pod(cluster))[m.SCHEDULER_ROUTES_ENV] == "mine"


def test_null_env_is_treated_as_empty(cluster: dict[str, Any]) -> None:
    """Upstream manifests and KubeCluster may send `env: null`; the operator must not crash."""
    cluster["spec"]["scheduler"]["spec"]["containers"][0]["env"] = None
    assert m.SCHEDULER_ROUTES_ENV in _env(m.scheduler_pod(cluster))
    assert cluster["spec"]["scheduler"]["spec"]["containers"][0]["env"] is None, "input mutated"


def test_scheduler_service_keeps_user_spec(cluster: dict[str, Any]) -> None:
    svc = m.scheduler_service(cluster)
    assert svc["metadata"]["name"] == "simple-scheduler"
    assert svc["spec"]["type"] == "NodePort"
    assert [p["name"] for p in svc["spec"]["ports"]] == ["tcp-comm", "http-dashboard"]


def test_scheduler_service_defaults(cluster: dict[str, Any]) -> None:
    cluster["spec"]["scheduler"]["service"] = {}
    spec = m.scheduler_service(cluster)["spec"]
    assert spec["selector"] == v.scheduler_labels("simple")
    assert {(p["name"], p["port"]) for p in spec["ports"]} == {
        ("tcp-comm", 8786),
        ("http-dashboard", 8787),
    }


def test_default_worker_group(cluster: dict[str, Any]) -> None:
    group = m.default_worker_group(cluster)
    assert group["metadata"]["name"] == "simple-default"
    assert group["spec"]["cluster"] == "simple"
    assert group["spec"]["worker"]["replicas"] == 2
    assert group["metadata"]["labels"][v.COMPONENT_LABEL] == "workergroup"


def test_worker_pod_env_and_labels() -> None:
    group = _with_meta(examples.WORKER_GROUP, labels={"g": "1"})
    group["apiVersion"], group["kind"] = "kubernetes.dask.org/v1", "DaskWorkerGroup"
    pod = m.worker_pod(group, "ns", 3)
    assert pod["metadata"]["name"] == "simple-highmem-worker-3"
    assert _env(pod) == {
        "DASK_WORKER_NAME": "simple-highmem-worker-3",
        "DASK_SCHEDULER_ADDRESS": "tcp://simple-scheduler.ns.svc.cluster.local:8786",
    }
    assert pod["metadata"]["labels"] == {"g": "1"} | v.worker_labels("simple", "simple-highmem")
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaskWorkerGroup"


def test_worker_metadata_overrides_parent() -> None:
    group = _with_meta(examples.WORKER_GROUP, labels={"tier": "parent"})
    group["spec"]["worker"]["metadata"] = {"labels": {"tier": "worker"}, "annotations": {"a": "b"}}
    pod = m.worker_pod(group, "ns", 0)
    assert pod["metadata"]["labels"]["tier"] == "worker"
    assert pod["metadata"]["annotations"] == {"a": "b"} | m.MOVABLE


@pytest.mark.parametrize(
    ("existing", "count", "expected"),
    [
        ([], 3, [0, 1, 2]),
        (["g-worker-0", "g-worker-2"], 2, [1, 3]),
        (["g-worker-1", "other-worker-0", "g-worker-x"], 1, [0]),
        (["g-worker-0"], 0, []),
    ],
)
def test_free_worker_indices(existing: list[str], count: int, expected: list[int]) -> None:
    assert m.free_worker_indices("g", existing, count) == expected


def test_job_cluster_and_runner() -> None:
    job = _with_meta(examples.JOB)
    cluster = m.job_cluster(job)
    assert cluster["kind"] == "DaskCluster" and cluster["metadata"]["name"] == "simple-job"
    assert cluster["metadata"]["ownerReferences"][0]["kind"] == "DaskJob"
    assert cluster["spec"] == examples.JOB["spec"]["cluster"]["spec"]
    runner = m.job_runner_pod(job, "ns")
    assert runner["metadata"]["name"] == "simple-job-runner"
    assert runner["metadata"]["labels"][v.COMPONENT_LABEL] == "job-runner"
    assert runner["spec"]["restartPolicy"] == "Never"
    assert _env(runner)["DASK_SCHEDULER_ADDRESS"].startswith("tcp://simple-job-scheduler.ns.svc")


@pytest.mark.parametrize(
    ("desired", "minimum", "maximum", "current", "expected"),
    [
        (5, 1, 10, 2, 5),  # scale up straight to the target
        (50, 1, 10, 2, 10),  # capped at maximum
        (0, 2, 10, 0, 2),  # floored at minimum
        (0, 0, 10, 8, 6),  # shrink at most a quarter per step
        (0, 0, 10, 2, 1),  # ... but at least one
        (3, 0, 10, 3, 3),
    ],
)
def test_clamp_replicas(
    desired: int, minimum: int, maximum: int, current: int, expected: int
) -> None:
    assert m.clamp_replicas(desired, minimum, maximum, current) == expected


def test_pod_state_helpers() -> None:
    ready = {
        "metadata": {},
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.1",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    assert pods.is_ready(ready) and not pods.is_terminal(ready) and pods.serves_traffic(ready)
    assert pods.is_terminal({"status": {"phase": "Failed"}})
    assert m.is_terminating({"metadata": {"deletionTimestamp": "now"}})
    assert not pods.is_ready({"status": {}})
    # Ready but being deleted, or without an address: ready, yet no endpoint.
    deleting = {**ready, "metadata": {"deletionTimestamp": "now"}}
    assert pods.is_ready(deleting) and not pods.serves_traffic(deleting)
    no_ip = {**ready, "status": {**ready["status"], "podIP": ""}}
    assert pods.is_ready(no_ip) and not pods.serves_traffic(no_ip)


def test_label_selector_is_sorted() -> None:
    assert v.label_selector({"b": "2", "a": "1"}) == "a=1,b=2"
