"""Pods are classified the way a user needs: ready, progressing, stuck (and why), or crashing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from rich.console import Console

from dask_kubernetes.operator.kubecluster.operations import ClusterSummary
from dask_kubernetes.operator.kubecluster.progress import StartupProgress
from dask_kubernetes.operator.kubecluster.waiting import pod_state


def pod(phase: str, conditions: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    listed = [{"type": k, **v} for k, v in (conditions or {}).items()]
    return {"status": {"phase": phase, "conditions": listed, **status}}


def test_ready_pod() -> None:
    state = pod_state(pod("Running", {"Ready": {"status": "True"}}))
    assert state.ready and state.label == "Running" and not state.stuck_reason


def test_running_but_not_ready_is_health_checking() -> None:
    state = pod_state(pod("Running", {"Ready": {"status": "False"}}))
    assert not state.ready and state.label == "Health Checking"


def test_unschedulable_pod_says_why() -> None:
    message = "0/3 nodes are available: 3 Insufficient cpu."
    state = pod_state(
        pod(
            "Pending",
            {"PodScheduled": {"status": "False", "reason": "Unschedulable", "message": message}},
        )
    )
    assert state.stuck_reason == f"Unschedulable: {message}"
    assert state.label == "Unschedulable" and not state.crashing


def test_image_pull_backoff_is_stuck_but_container_creating_is_progress() -> None:
    def waiting(reason: str) -> dict[str, Any]:
        return pod("Pending", containerStatuses=[{"state": {"waiting": {"reason": reason}}}])

    assert pod_state(waiting("ImagePullBackOff")).stuck_reason == "ImagePullBackOff"
    assert pod_state(waiting("ContainerCreating")).stuck_reason is None


@pytest.mark.parametrize(
    "container",
    [
        {"state": {"waiting": {"reason": "CrashLoopBackOff"}}},
        {"state": {"terminated": {"reason": "Error", "exitCode": 1}}},
    ],
)
def test_crashing_containers(container: dict[str, Any]) -> None:
    state = pod_state(pod("Running", containerStatuses=[container]))
    assert state.crashing and state.stuck_reason


def test_failed_pod_is_crashing() -> None:
    assert pod_state(pod("Failed")).crashing


def test_progress_panel_lists_components() -> None:
    progress = StartupProgress("analysis")
    progress.report("cluster", "Running")
    progress.report("schedulerpod", "Unschedulable")
    progress.log("Waiting for scheduler pod")
    console = Console(width=100, record=True, color_system=None)
    console.print(progress.render())
    text = console.export_text()
    assert "Creating KubeCluster 'analysis'" in text
    assert "DaskCluster" in text and "Running" in text
    assert "Unschedulable" in text and "Waiting for scheduler pod" in text


@pytest.mark.parametrize(
    ("age", "label"),
    [(timedelta(seconds=5), "5s"), (timedelta(minutes=3), "3m"), (timedelta(days=2), "2d")],
)
def test_cluster_age(age: timedelta, label: str) -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    summary = ClusterSummary("a", "ns", "Running", 1, now - age)
    assert summary.age(now) == label
