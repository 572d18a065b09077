"""Admins can move workers (issue 15): `kubectl drain` and the cluster autoscaler.

drain evicts a Pod without `--force` only when a controller owns it (an ownerReference with
`controller: true`); the cluster autoscaler moves a Pod of a custom controller only when it is
annotated safe to evict. Workers are replaceable (the operator recreates a missing one; the
scheduler recomputes what it held), so they say so; the scheduler and a job's runner are not
(losing either loses the computation), so they ask the autoscaler to leave them be.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kr8s
import operator_examples as examples
import pytest
from chart_operator import ChartOperator
from operator_examples import local_cluster
from operator_helpers import DaskCluster, DaskJob, kubectl, live, make, pods, wait_for

from dask_kubernetes.operator import child_manifests as m

SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"


def _e2e(test: Callable[..., None]) -> Callable[..., None]:
    """The marks every test here that runs the operator on the stand-in carries."""
    for mark in (pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("operator_logs")):
        test = mark(test)
    return test


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


@_e2e
def test_evicted_pods_come_back_and_say_how_they_may_be_moved(
    kube: kr8s.Api, ns: str, k8s_cluster: Any
) -> None:
    """An eviction (through `pods/eviction`, as drain and the autoscaler send it) deletes the Pod;
    the operator recreates it."""
    manifest = local_cluster("moved", replicas=1)
    manifest["spec"]["worker"]["spec"]["containers"][0]["args"] = ["sleep", "1000000"]
    make(DaskCluster, manifest, ns, kube)
    for component, movable in (("worker", "true"), ("scheduler", "false")):
        selector = {"dask.org/cluster-name": "moved", "dask.org/component": component}
        (pod,) = wait_for(f"the {component}", lambda s=selector: live(pods(kube, ns, s)))
        assert pod.annotations[SAFE_TO_EVICT] == movable
        assert any(ref.get("controller") for ref in pod.metadata["ownerReferences"])
        _evict(k8s_cluster.kubeconfig, ns, pod.name)
        wait_for(
            f"a new {component} Pod",
            lambda s=selector, old=pod.metadata["uid"]: [
                p for p in live(pods(kube, ns, s)) if p.metadata["uid"] != old
            ],
        )


def _evict(kubeconfig: str, namespace: str, name: str) -> None:
    """POST a policy/v1 Eviction, as drain and the cluster autoscaler do (kr8s has no evict)."""
    from kubernetes import client, config

    api = config.new_client_from_config(str(kubeconfig))
    try:
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}
        client.CoreV1Api(api).create_namespaced_pod_eviction(name, namespace, body)
    finally:
        api.close()


def _uids(found: list[Any]) -> set[str]:
    return {p.metadata["uid"] for p in found}


def _running(found: list[Any]) -> list[Any]:
    return [p for p in live(found) if p.status.get("phase") == "Running"]


def _phase(obj: Any) -> str:
    obj.refresh()
    return str(obj.raw.get("status", {}).get("phase", ""))


@_e2e
def test_kubectl_drain_moves_the_workers_and_a_budget_stops_it(
    kube: kr8s.Api, ns: str, k8s_cluster: Any
) -> None:
    """Real `kubectl drain` on the stand-in's node: it cordons, evicts the cluster's Pods through
    `pods/eviction`; the operator recreates them, and they wait while the node is cordoned (the
    stand-in has one node) and run once it is uncordoned. A PodDisruptionBudget that forbids an
    eviction gets 429, drain reports it and fails, and the Pod stays."""
    config = str(k8s_cluster.kubeconfig)
    manifest = local_cluster("drained", replicas=2)
    manifest["spec"]["worker"]["spec"]["containers"][0]["args"] = ["sleep", "1000000"]
    cluster = make(DaskCluster, manifest, ns, kube)
    workers = {"dask.org/cluster-name": "drained", "dask.org/component": "worker"}
    scheduler = {"dask.org/cluster-name": "drained", "dask.org/component": "scheduler"}
    before = wait_for(
        "two running workers",
        lambda: (found := _running(pods(kube, ns, workers))) and len(found) == 2 and found,
        timeout=120,
    )
    node = before[0].spec["nodeName"]
    listed = kubectl(config, "get", "nodes", "-o", "name")
    assert f"node/{node}" in listed.stdout.split(), listed.stderr
    try:
        drained = kubectl(
            config,
            "drain",
            node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--pod-selector=dask.org/cluster-name=drained",
            "--timeout=120s",
            timeout=180,
        )
        assert drained.returncode == 0, drained.stderr
        assert drained.stdout.count("evicted") >= 3, drained.stdout  # 2 workers + scheduler
        assert not _uids(pods(kube, ns, workers)) & _uids(before)
        # The operator recreates them; while cordoned, nothing may run them on this node.
        waiting = wait_for(
            "two new worker Pods",
            lambda: (f := live(pods(kube, ns, workers))) and len(f) == 2 and f,
        )
        if k8s_cluster.stand_in is not None:  # its one node is cordoned: nowhere to run them
            assert all(not p.spec.get("nodeName") for p in waiting)
        uncordoned = kubectl(config, "uncordon", node)
        assert uncordoned.returncode == 0, uncordoned.stderr
        after = wait_for(
            "two running workers again",
            lambda: (found := _running(pods(kube, ns, workers))) and len(found) == 2 and found,
            timeout=120,
        )
        assert not _uids(after) & _uids(before)
        wait_for("the cluster Running", lambda: _phase(cluster) == "Running", timeout=60)

        # A budget that allows no disruption: the eviction answers 429 and drain gives up.
        (held,) = wait_for("the scheduler", lambda: _running(pods(kube, ns, scheduler)))
        budget = {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "keep-scheduler", "namespace": ns},
            "spec": {"maxUnavailable": 0, "selector": {"matchLabels": scheduler}},
        }
        kr8s.objects.PodDisruptionBudget(budget, api=kube).create()
        refused = kubectl(
            config,
            "drain",
            node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--pod-selector=dask.org/component=scheduler,dask.org/cluster-name=drained",
            "--timeout=12s",
        )
        assert refused.returncode != 0
        assert "disruption budget" in refused.stderr, refused.stderr
        (still,) = live(pods(kube, ns, scheduler))
        assert still.metadata["uid"] == held.metadata["uid"]
    finally:
        kubectl(config, "uncordon", node)


@_e2e
def test_an_evicted_job_runner_is_not_run_again(
    kube: kr8s.Api, ns: str, k8s_cluster: Any, operator: Any, tmp_path: Path
) -> None:
    """The runner's script appends a line to a file, then works on; evicting the runner fails
    the job with a reason naming the eviction, and the script never runs a second time."""
    if isinstance(operator, ChartOperator) and k8s_cluster.shipped is None:
        pytest.skip(
            "the ledger is a file on this host, which the pods of an external cluster with "
            "the chart's operator (release.yml's kind) cannot see"
        )
    ledger = tmp_path / "runs.txt"
    script = (
        "import time\n"
        f"with open({str(ledger)!r}, 'a') as f: f.write('ran\\n')\n"
        "time.sleep(1000000)\n"
    )
    job = examples.job_example()
    job["metadata"]["name"] = "once"
    job["spec"]["cluster"] = {"spec": local_cluster("once", replicas=1)["spec"]}
    job["spec"]["job"]["spec"]["containers"][0]["args"] = ["python", "-c", script]
    if k8s_cluster.shipped is not None:  # a container sees the host's directory only mounted
        tmp_path.chmod(0o777)  # the image's user is not root
        runner = job["spec"]["job"]["spec"]
        runner["volumes"] = [{"name": "ledger", "hostPath": {"path": str(tmp_path)}}]
        runner["containers"][0]["volumeMounts"] = [{"name": "ledger", "mountPath": str(tmp_path)}]
    make(DaskJob, job, ns, kube)
    wait_for("the script to start", lambda: ledger.exists() and ledger.read_text(), timeout=120)
    _evict(k8s_cluster.kubeconfig, ns, "once-runner")

    def status() -> dict[str, Any]:
        found: dict[str, Any] = DaskJob.get("once", namespace=ns, api=kube).raw.get("status", {})
        return found

    wait_for(
        "jobStatus Failed (or the script running again)",
        lambda: status().get("jobStatus") == "Failed" or ledger.read_text().count("\n") > 1,
        timeout=60,
    )
    assert ledger.read_text() == "ran\n", "the script ran again after its runner was evicted"
    assert "evicted" in status()["reason"]
    wait_for(
        "the runner to be gone",
        lambda: not live(pods(kube, ns, {"dask.org/component": "job-runner"})),
    )
    wait_for(
        "the job's cluster to be removed",
        lambda: not list(kr8s.get("daskclusters", namespace=ns, api=kube)),
        timeout=60,
    )
    assert ledger.read_text() == "ran\n"
