"""DaskCluster lifecycle on the local stand-in, driven by our operator process."""

from __future__ import annotations

import time
from typing import Any

import kr8s
import pytest
from operator_examples import local_cluster
from operator_helpers import (
    DaskCluster,
    DaskWorkerGroup,
    crds_without_name_rules,
    live,
    make,
    pods,
    wait_for,
)
from operator_rbac import OPERATOR_AGENTS

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("operator_logs")]


def _phase(obj: Any) -> str:
    obj.refresh()
    return str(obj.raw.get("status", {}).get("phase", ""))


def test_cluster_lifecycle(kube: kr8s.Api, ns: str) -> None:
    cluster = make(DaskCluster, local_cluster("life", replicas=2), ns, kube)
    wait_for("phase Running", lambda: _phase(cluster) == "Running", timeout=60)
    scheduler = pods(kube, ns, {"dask.org/cluster-name": "life", "dask.org/component": "scheduler"})
    assert [p.name for p in scheduler] == ["life-scheduler"]
    assert scheduler[0].labels["team"] == "tests"
    service = kr8s.objects.Service.get("life-scheduler", namespace=ns, api=kube)
    assert {p["name"] for p in service.spec["ports"]} == {"tcp-comm", "http-dashboard"}
    group = DaskWorkerGroup.get("life-default", namespace=ns, api=kube)
    assert group.spec["worker"]["replicas"] == 2
    selector = {"dask.org/workergroup-name": "life-default"}
    workers = wait_for("2 workers", lambda: len(live(pods(kube, ns, selector))) == 2 or None)
    assert workers
    for pod in live(pods(kube, ns, selector)):
        env = {e["name"]: e.get("value") for e in pod.spec["containers"][0]["env"]}
        assert env["DASK_WORKER_NAME"] == pod.name
        assert env["DASK_SCHEDULER_ADDRESS"] == f"tcp://life-scheduler.{ns}.svc.cluster.local:8786"
        assert pod.labels["dask.org/cluster-name"] == "life"
        assert pod.metadata["ownerReferences"][0]["kind"] == "DaskWorkerGroup"
    conditions = cluster.raw["status"]["conditions"]
    assert any(c["type"] == "SchedulerReady" and c["status"] == "True" for c in conditions)
    wait_for(
        "status.replicas of the worker group",
        lambda: (
            DaskWorkerGroup.get("life-default", namespace=ns, api=kube)
            .raw.get("status", {})
            .get("replicas")
            == 2
        ),
    )
    events = list(kr8s.get("events", namespace=ns, api=kube))
    assert any(e.raw.get("reason") == "SchedulerCreated" for e in events)

    cluster.delete()
    wait_for(
        "everything of the cluster to be gone",
        lambda: (
            not pods(kube, ns, {"dask.org/cluster-name": "life"})
            and not list(kr8s.get("services", namespace=ns, api=kube))
            and not list(kr8s.get("daskworkergroups", namespace=ns, api=kube))
        ),
        timeout=60,
    )


def test_scaling_the_cluster_resizes_its_default_group(kube: kr8s.Api, ns: str) -> None:
    manifest = local_cluster("resize", replicas=0)
    manifest["spec"]["worker"]["spec"]["containers"][0]["args"] = ["sleep", "1000000"]
    cluster = make(DaskCluster, manifest, ns, kube)
    wait_for(
        "the default group", lambda: DaskWorkerGroup.get("resize-default", namespace=ns, api=kube)
    )
    cluster.patch({"spec": {"worker": {"replicas": 3}}})
    selector = {"dask.org/workergroup-name": "resize-default"}
    wait_for("3 workers", lambda: len(live(pods(kube, ns, selector))) == 3)


def test_invalid_cluster_name_is_reported_not_retried(kube: kr8s.Api, ns: str) -> None:
    """Stored before the CRD checked names (it now answers 422): the operator refuses it too,
    with one Event. (Its status cannot say so: without CRD validation ratcheting, as on the
    stand-in, the server refuses any write to an object that fails its schema.)"""
    name = "x" * 60  # a valid object name, but `<name>-scheduler` exceeds 63 characters
    with crds_without_name_rules(kube):
        make(DaskCluster, local_cluster(name), ns, kube)

    def refusals() -> list[str]:
        return [
            e.raw.get("message", "")
            for e in kr8s.get("events", namespace=ns, api=kube)
            if e.raw.get("reason") == "InvalidSpec" and e.raw.get("type") == "Warning"
        ]

    (message,) = wait_for("an InvalidSpec Event", refusals)
    assert "at most 53 characters" in message
    assert not pods(kube, ns, {"dask.org/cluster-name": name})
    assert not list(kr8s.get("services", namespace=ns, api=kube))


def test_idle_cluster_is_closed_after_idle_timeout(kube: kr8s.Api, ns: str) -> None:
    """The operator asks the scheduler (through the API server's service proxy) how long it has
    been idle, marks the cluster Closing and deletes it."""
    manifest = local_cluster("idle", replicas=0)
    manifest["spec"]["idleTimeout"] = 2
    cluster = make(DaskCluster, manifest, ns, kube)
    wait_for("Running", lambda: _phase(cluster) == "Running")
    wait_for(
        "the idle cluster to be deleted",
        lambda: not list(kr8s.get("daskclusters", namespace=ns, api=kube)),
        timeout=60,
    )
    events = {e.raw.get("reason") for e in kr8s.get("events", namespace=ns, api=kube)}
    assert "IdleTimeout" in events


#: A worker that takes two seconds to shut down, so the Closing phase is observable.
_SLOW_TO_STOP = ["sh", "-c", "trap 'sleep 2; exit 0' TERM; sleep 1000000 & wait"]


def test_foreground_delete_shows_closing_and_ends_when_everything_is_gone(
    kube: kr8s.Api, ns: str
) -> None:
    manifest = local_cluster("fg", replicas=2)
    manifest["spec"]["worker"]["spec"]["containers"][0]["args"] = _SLOW_TO_STOP
    cluster = make(DaskCluster, manifest, ns, kube)
    selector = {"dask.org/cluster-name": "fg"}
    wait_for("2 workers", lambda: len(live(pods(kube, ns, selector))) == 3)

    cluster.delete(propagation_policy="Foreground")
    wait_for("phase Closing", lambda: _phase(cluster) == "Closing", timeout=30)
    assert cluster.raw["metadata"].get("deletionTimestamp")
    assert pods(kube, ns, selector), "Closing while its pods are still shutting down"
    wait_for("the DaskCluster to be gone", lambda: not cluster.exists(), timeout=60)
    # Gone means all gone: nothing it owned outlives it.
    assert not pods(kube, ns, selector)
    assert not list(kr8s.get("services", namespace=ns, api=kube))
    assert not list(kr8s.get("daskworkergroups", namespace=ns, api=kube))


def test_an_idle_cluster_costs_the_api_server_nothing(
    k8s_cluster: Any, kube: kr8s.Api, ns: str
) -> None:
    """Reconciles read kopf's watch-fed indexes, not the API server, when nothing changes."""
    audit = k8s_cluster.require_api_server().audit
    cluster = make(DaskCluster, local_cluster("idle", replicas=1), ns, kube)
    wait_for("phase Running", lambda: _phase(cluster) == "Running", timeout=60)
    group = DaskWorkerGroup.get("idle-default", namespace=ns, api=kube)
    wait_for("group status", lambda: group.refresh() or group.status.get("replicas") == 1)
    wait_for("cluster status", lambda: cluster.refresh() or cluster.status.get("replicas") == 1)
    start = len(audit)
    time.sleep(11)  # a measurement window (two ticks of every timer), not a synchronisation
    requests = [
        f"{r.verb} {r.rbac_resource}/{r.name}"
        for r in audit[start:]
        if r.user_agent.startswith(OPERATOR_AGENTS) and r.namespace == ns and r.verb != "watch"
    ]
    # At most the once-a-minute check of the cache: a LIST of its Pods, and creating its
    # Service and default group again (409: they exist).
    resync = {"list pods/", "create services/", "create daskworkergroups/"}
    assert [r for r in requests if r not in resync] == []
    assert all(requests.count(r) <= 1 for r in resync)
