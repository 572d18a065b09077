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

import kr8s
import operator_examples as examples
import pytest
from operator_examples import local_cluster
from operator_helpers import DaskCluster, live, make, pods, wait_for

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


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.usefixtures("operator_logs")
def test_evicted_pods_come_back_and_say_how_they_may_be_moved(kube: kr8s.Api, ns: str) -> None:
    """An eviction deletes the Pod (the stand-in has no eviction subresource, so the test deletes
    it as the eviction would); the operator recreates it."""
    manifest = local_cluster("moved", replicas=1)
    manifest["spec"]["worker"]["spec"]["containers"][0]["args"] = ["sleep", "1000000"]
    make(DaskCluster, manifest, ns, kube)
    for component, movable in (("worker", "true"), ("scheduler", "false")):
        selector = {"dask.org/cluster-name": "moved", "dask.org/component": component}
        (pod,) = wait_for(f"the {component}", lambda s=selector: live(pods(kube, ns, s)))
        assert pod.annotations[SAFE_TO_EVICT] == movable
        assert any(ref.get("controller") for ref in pod.metadata["ownerReferences"])
        pod.delete()
        wait_for(
            f"a new {component} Pod",
            lambda s=selector, old=pod.metadata["uid"]: [
                p for p in live(pods(kube, ns, s)) if p.metadata["uid"] != old
            ],
        )
