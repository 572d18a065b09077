"""DaskJob and DaskAutoscaler lifecycles on the local stand-in."""

from __future__ import annotations

import copy
import re
from typing import Any

import kr8s
import pytest
from operator_examples import AUTOSCALER, job_example, local_cluster
from operator_helpers import (
    DaskAutoscaler,
    DaskCluster,
    DaskJob,
    DaskWorkerGroup,
    make,
    pods,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("operator_logs")]

RUNNER = (
    "from dask.distributed import Client\n"
    "with Client(timeout='60s') as client:\n"
    "    assert client.submit(lambda x: x + 1, 1).result() == 2\n"
)


def _job(name: str, script: str) -> dict[str, Any]:
    job = job_example()
    job["metadata"]["name"] = name
    job["spec"]["cluster"] = {"spec": local_cluster(name, replicas=1)["spec"]}
    job["spec"]["job"]["spec"]["containers"][0]["args"] = ["python", "-c", script]
    return job


def _job_status(api: kr8s.Api, ns: str, name: str) -> dict[str, Any]:
    status: dict[str, Any] = DaskJob.get(name, namespace=ns, api=api).raw.get("status", {})
    return status


def test_job_runs_on_its_cluster_then_cleans_up(kube: kr8s.Api, ns: str) -> None:
    make(DaskJob, _job("calc", RUNNER), ns, kube)
    seen: set[str] = set()

    def finished() -> bool:
        seen.add(_job_status(kube, ns, "calc").get("jobStatus", ""))
        return bool(seen & {"Successful", "Failed"})

    wait_for("the job to finish", finished, timeout=120)
    status = _job_status(kube, ns, "calc")
    runner = kr8s.objects.Pod.get("calc-runner", namespace=ns, api=kube)
    assert status["jobStatus"] == "Successful", "\n".join(runner.logs())
    assert status["clusterName"] == "calc" and status["jobRunnerPodName"] == "calc-runner"
    assert status["startTime"] <= status["endTime"]
    assert "ClusterCreated" in seen or "Running" in seen
    wait_for(
        "the job's cluster to be removed",
        lambda: (
            not list(kr8s.get("daskclusters", namespace=ns, api=kube))
            and not pods(kube, ns, {"dask.org/component": "scheduler"})
        ),
        timeout=60,
    )
    runner = kr8s.objects.Pod.get("calc-runner", namespace=ns, api=kube)
    assert runner.status["phase"] == "Succeeded"


TLS_RUNNER = (
    "import os\n"
    "address = os.environ['DASK_SCHEDULER_ADDRESS']\n"
    "assert address.startswith('tls://'), address\n"
    "from dask.distributed import Client\n"
    "with Client(timeout='60s') as client:\n"
    "    assert client.submit(lambda x: x + 1, 1).result() == 2\n"
)


def test_a_tls_job_runner_computes_with_nothing_to_configure(kube: kr8s.Api, ns: str) -> None:
    """README: with `tls: true` in the job's cluster spec, the runner gets the client certificate
    and a `tls://` scheduler address from the operator; a plain `Client()` computes (issue #21)."""
    job = _job("sealed-job", TLS_RUNNER)
    job["spec"]["cluster"]["spec"]["tls"] = True
    make(DaskJob, job, ns, kube)
    wait_for(
        "the job to finish",
        lambda: _job_status(kube, ns, "sealed-job").get("jobStatus") in ("Successful", "Failed"),
        timeout=120,
    )
    runner = kr8s.objects.Pod.get("sealed-job-runner", namespace=ns, api=kube)
    assert _job_status(kube, ns, "sealed-job")["jobStatus"] == "Successful", "\n".join(
        runner.logs()
    )


#: Upstream's status timestamps: "%Y-%m-%dT%H:%M:%SZ".
UPSTREAM_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def test_failed_job(kube: kr8s.Api, ns: str) -> None:
    make(DaskJob, _job("broken", "raise SystemExit(3)"), ns, kube)
    wait_for(
        "jobStatus Failed",
        lambda: _job_status(kube, ns, "broken").get("jobStatus") == "Failed",
        timeout=60,
    )
    status = _job_status(kube, ns, "broken")
    assert (status["clusterName"], status["jobRunnerPodName"]) == ("broken", "broken-runner")
    for field in ("startTime", "endTime"):
        assert UPSTREAM_TIME.fullmatch(status[field]), (field, status[field])
    assert status["startTime"] <= status["endTime"]
    wait_for(
        "the cluster to be removed",
        lambda: not list(kr8s.get("daskclusters", namespace=ns, api=kube)),
    )


def test_autoscaler_keeps_the_minimum_and_is_owned(kube: kr8s.Api, ns: str) -> None:
    make(DaskCluster, local_cluster("simple", replicas=0), ns, kube)
    scaler = make(
        DaskAutoscaler,
        copy.deepcopy(AUTOSCALER) | {"spec": {"cluster": "simple", "minimum": 2, "maximum": 4}},
        ns,
        kube,
    )
    # An idle scheduler wants 0 workers; the autoscaler holds the group at the minimum.
    wait_for(
        "the default group scaled to the minimum",
        lambda: (
            DaskWorkerGroup.get("simple-default", namespace=ns, api=kube).spec["worker"]["replicas"]
            == 2
        ),
        timeout=60,
    )

    # The group is patched first and the autoscaler's status written after: await both.
    def status_desired() -> object:
        scaler.refresh()
        return scaler.raw.get("status", {}).get("desired")

    wait_for("the autoscaler's status to show 2 desired", lambda: status_desired() == 2)
    assert scaler.metadata["ownerReferences"][0]["kind"] == "DaskCluster"
    assert "kubernetes.dask.org/cooldown-until" in scaler.annotations


def test_autoscaler_with_min_above_max_is_refused(kube: kr8s.Api, ns: str) -> None:
    make(DaskCluster, local_cluster("odd", replicas=0), ns, kube)
    scaler = make(
        DaskAutoscaler,
        {
            "apiVersion": "kubernetes.dask.org/v1",
            "kind": "DaskAutoscaler",
            "metadata": {"name": "odd"},
            "spec": {"cluster": "odd", "minimum": 5, "maximum": 1},
        },
        ns,
        kube,
    )

    def reason() -> str:
        scaler.refresh()
        return str(scaler.raw.get("status", {}).get("reason", ""))

    assert "minimum 5 is above maximum 1" in wait_for("a status reason", reason)
    events = {e.raw.get("reason") for e in kr8s.get("events", namespace=ns, api=kube)}
    assert "InvalidSpec" in events
