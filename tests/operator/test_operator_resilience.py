"""Convergence under trouble: a killed scheduler, an operator restarted mid-scale, API faults."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import kr8s
import pytest
from distributed import Client
from operator_examples import local_cluster
from operator_helpers import (
    DaskCluster,
    DaskWorkerGroup,
    OperatorProcess,
    live,
    make,
    pods,
    scheduler_address,
    wait_for,
)
from operator_rbac import OPERATOR_AGENTS

from dask_kubernetes.local.cluster import OPERATOR_USER

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("operator_logs")]


def _status(api: kr8s.Api, ns: str, name: str) -> dict[str, Any]:
    status: dict[str, Any] = DaskCluster.get(name, namespace=ns, api=api).raw.get("status", {})
    return status


def _workers(api: kr8s.Api, ns: str, group: str) -> list[Any]:
    return live(pods(api, ns, {"dask.org/workergroup-name": group}))


def _reasons(api: kr8s.Api, ns: str) -> set[str]:
    return {e.raw.get("reason", "") for e in kr8s.get("events", namespace=ns, api=api)}


def _stays(what: str, check: Any, seconds: float) -> None:
    """`check` holds throughout `seconds` (no duplicates appear later)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check(), what
        time.sleep(0.25)


def test_killed_scheduler_is_reported_and_recovered(
    kube: kr8s.Api, ns: str, k8s_cluster: Any
) -> None:
    make(DaskCluster, local_cluster("phoenix", replicas=0), ns, kube)
    wait_for("Running", lambda: _status(kube, ns, "phoenix").get("phase") == "Running")
    pod = kr8s.objects.Pod.get("phoenix-scheduler", namespace=ns, api=kube)
    # The scheduler ends itself, with no cleanup, as a crash does: on every node (a signal
    # from here could not reach into a container's process namespace). A moment later, so
    # this client has closed by then.
    with (
        scheduler_address(k8s_cluster, kube, ns, "phoenix") as address,
        Client(address, timeout="30s") as client,
    ):
        client.run_on_scheduler(lambda: threading.Timer(2, os._exit, (1,)).start())
    wait_for("the outage in status", lambda: "SchedulerNotReady" in _reasons(kube, ns))
    wait_for("Running again", lambda: _status(kube, ns, "phoenix").get("phase") == "Running")
    (ready,) = [
        c for c in _status(kube, ns, "phoenix")["conditions"] if c["type"] == "SchedulerReady"
    ]
    assert ready["status"] == "True"

    # A deleted scheduler Pod is recreated by the operator.
    old_uid = pod.metadata["uid"]
    pod.delete()
    wait_for(
        "a new scheduler Pod, ready",
        lambda: (
            (p := kr8s.objects.Pod.get("phoenix-scheduler", namespace=ns, api=kube)).metadata["uid"]
            != old_uid
            and p.status.get("podIP")
        ),
        timeout=60,
    )
    wait_for("Running again", lambda: _status(kube, ns, "phoenix").get("phase") == "Running")


def test_operator_restart_mid_scale(kube: kr8s.Api, ns: str, operator: OperatorProcess) -> None:
    cheap = local_cluster("restart", replicas=1)
    sleeper = ["python", "-c", "import time; time.sleep(10**6)"]
    cheap["spec"]["worker"]["spec"]["containers"][0]["args"] = sleeper
    make(DaskCluster, cheap, ns, kube)
    group = "restart-default"
    wait_for("one worker", lambda: len(_workers(kube, ns, group)) == 1)
    DaskWorkerGroup.get(group, namespace=ns, api=kube).patch({"spec": {"worker": {"replicas": 12}}})
    # Kill the operator while it is creating workers, then start a fresh one.
    wait_for("scale-up to start", lambda: len(_workers(kube, ns, group)) > 1, timeout=30)
    operator.stop(kill=True)
    operator.start()
    wait_for("12 workers", lambda: len(_workers(kube, ns, group)) == 12, timeout=180)
    _stays("exactly 12 workers", lambda: len(_workers(kube, ns, group)) == 12, 3)
    names = [p.name for p in pods(kube, ns, {"dask.org/workergroup-name": group})]
    assert len(names) == len(set(names)) == 12


def _retrying(action: Any) -> Any:
    """Test-side calls under injected faults: retry until the API server serves them."""
    return wait_for("the API call to get through", lambda: action() or True, timeout=30)


def test_converges_under_api_faults(kube: kr8s.Api, ns: str, k8s_cluster: Any) -> None:
    server = k8s_cluster.require_api_server()
    faults, first = server.faults, len(server.audit)
    cheap = local_cluster("faulty", replicas=3)
    cheap["spec"]["worker"]["spec"]["containers"][0]["args"] = [
        "python",
        "-c",
        "import time; time.sleep(10**6)",
    ]
    # Faults only on the operator's own requests (its token), so the seeded draws are the
    # operator's alone and the run meets a fault whatever the kubelet and this test do.
    faults.configure(
        error_rate=0.2,
        error_codes=(500, 409),
        users={OPERATOR_USER},
        watch_close_after_events=5,
        seed=5,
    )
    try:

        def create() -> None:
            obj = DaskCluster(cheap, namespace=ns, api=kube)
            if not obj.exists():
                obj.create()

        _retrying(create)
        wait_for("3 workers", lambda: len(_workers(kube, ns, "faulty-default")) == 3, timeout=90)
        wait_for("Running", lambda: _status(kube, ns, "faulty").get("phase") == "Running")
        _retrying(
            lambda: DaskWorkerGroup.get("faulty-default", namespace=ns, api=kube).patch(
                {"spec": {"worker": {"replicas": 5}}}
            )
        )
        wait_for("5 workers", lambda: len(_workers(kube, ns, "faulty-default")) == 5, timeout=90)
    finally:
        faults.clear()
    _stays("exactly 5 workers", lambda: len(_workers(kube, ns, "faulty-default")) == 5, 2)
    hit = [r for r in server.audit[first:] if r.user_agent.startswith(OPERATOR_AGENTS)]
    assert any(r.code in (500, 409) for r in hit), "the operator never met an injected fault"
