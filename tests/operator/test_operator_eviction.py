"""Admins can move workers (issue 15): `kubectl drain` and the cluster autoscaler.

drain evicts a Pod without `--force` only when a controller owns it (an ownerReference with
`controller: true`); the cluster autoscaler moves a Pod of a custom controller only when it is
annotated safe to evict. Workers are replaceable (the operator recreates a missing one; the
scheduler recomputes what it held), so they say so; the scheduler and a job's runner are not
(losing either loses the computation), so they ask the autoscaler to leave them be.
"""

from __future__ import annotations

import copy
from typing import Any

import operator_examples as examples

from dask_kubernetes.operator import manifests as m

SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"


def _owned(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"] |= {"namespace": "ns", "uid": "uid-1"}
    return obj


def _controller(pod: dict[str, Any]) -> dict[str, Any]:
    (owner,) = [ref for ref in pod["metadata"]["ownerReferences"] if ref.get("controller")]
    return owner


def test_workers_may_be_moved_by_drain_and_the_cluster_autoscaler() -> None:
    pod = m.worker_pod(_owned(examples.WORKER_GROUP), "ns", 0)
    assert pod["metadata"]["annotations"][SAFE_TO_EVICT] == "true"
    assert _controller(pod)["kind"] == "DaskWorkerGroup"


def test_the_scheduler_and_the_runner_are_left_alone_by_the_autoscaler() -> None:
    scheduler = m.scheduler_pod(_owned(examples.SIMPLE_CLUSTER))
    runner = m.job_runner_pod(_owned(examples.JOB), "ns")
    for pod, owner in ((scheduler, "DaskCluster"), (runner, "DaskJob")):
        assert pod["metadata"]["annotations"][SAFE_TO_EVICT] == "false"
        assert _controller(pod)["kind"] == owner  # drain still evicts it, without --force


def test_the_users_own_choice_wins() -> None:
    group = _owned(examples.WORKER_GROUP)
    group["spec"]["worker"]["metadata"] = {"annotations": {SAFE_TO_EVICT: "false"}}
    assert m.worker_pod(group, "ns", 0)["metadata"]["annotations"][SAFE_TO_EVICT] == "false"
