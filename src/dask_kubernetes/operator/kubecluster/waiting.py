"""Wait for the operator's resources to come up, and say precisely why when they do not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kr8s
from kr8s.asyncio.objects import Pod, Service

from .errors import (
    OperatorNotRunningError,
    PodPendingError,
    ResourceTimeoutError,
    SchedulerStartupError,
)
from .kr8s_api import Api, find_object, list_objects
from .resources import DaskCluster, cluster_selector, scheduler_selector

POLL_INTERVAL = 0.25
# Pending for these reasons will not resolve by waiting; pulling an image or creating a
# container ("ContainerCreating") is normal progress and may take long on a real cluster.
STUCK_REASONS = frozenset(
    {
        "Unschedulable",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
CRASH_REASONS = frozenset({"CrashLoopBackOff", "RunContainerError"})
# Normal progress is given this many resource_timeouts before we give up.
SLOW_PROGRESS_FACTOR = 5

Report = Callable[[str, str], None]


def _ignore(component: str, status: str) -> None:
    """Default progress sink."""


@dataclass(frozen=True)
class PodState:
    """What a pod is doing, reduced to what a user needs to hear."""

    phase: str
    ready: bool
    stuck_reason: str | None = None
    crashing: bool = False

    @property
    def label(self) -> str:
        if self.ready:
            return "Running"
        if self.stuck_reason:
            return self.stuck_reason.split(":", 1)[0]
        if self.phase == "Running":
            return "Health Checking"
        return self.phase


def pod_state(pod: Mapping[str, Any]) -> PodState:
    """Classify a pod manifest: ready, making progress, stuck pending, or crashing."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready = phase == "Running" and (conditions.get("Ready") or {}).get("status") == "True"
    if phase == "Failed":
        return PodState(phase, False, status.get("reason") or "Failed", crashing=True)
    scheduled = conditions.get("PodScheduled") or {}
    if scheduled.get("status") == "False" and scheduled.get("reason"):
        return PodState(phase, ready, _reason(scheduled))
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason")
        if reason in CRASH_REASONS:
            return PodState(phase, ready, _reason(waiting), crashing=True)
        if reason in STUCK_REASONS:
            return PodState(phase, ready, _reason(waiting))
        if "terminated" in state and not ready:
            terminated = state["terminated"]
            return PodState(phase, ready, _reason(terminated, "Error"), crashing=True)
    return PodState(phase, ready)


def _reason(source: Mapping[str, Any], default: str = "") -> str:
    reason = source.get("reason") or default
    message = source.get("message")
    return f"{reason}: {message}" if message else str(reason)


async def wait_for_controller(
    api: Api, name: str, namespace: str, timeout: float, report: Report = _ignore
) -> None:
    """The operator marks every DaskCluster it handles with `status.phase`; wait for that."""
    deadline = time.monotonic() + timeout
    while True:
        cluster = await find_object(DaskCluster, name, namespace, api)
        phase = cluster.raw.get("status", {}).get("phase") if cluster is not None else None
        if phase:
            report("cluster", str(phase))
            return
        if time.monotonic() > deadline:
            raise OperatorNotRunningError(name, timeout)
        await asyncio.sleep(POLL_INTERVAL)


async def wait_for_scheduler_pod(
    api: Api, name: str, namespace: str, timeout: float, report: Report = _ignore
) -> None:
    """Wait for a ready scheduler pod; fail after `timeout` if it is missing, stuck or crashing."""
    start = time.monotonic()
    while True:
        pods = await list_objects(Pod, namespace, api, label_selector=scheduler_selector(name))
        live = [pod for pod in pods if not pod.raw.get("metadata", {}).get("deletionTimestamp")]
        state = pod_state(live[0].raw) if live else None
        if state is not None:
            report("schedulerpod", state.label)
            if state.ready:
                return
        waited = time.monotonic() - start
        if waited > timeout:
            if state is None:
                raise ResourceTimeoutError(
                    f"No scheduler pod for cluster {name!r} appeared within {timeout:g} s"
                )
            if state.crashing:
                logs = await pod_logs(live[0])
                raise SchedulerStartupError(
                    f"Scheduler failed to start ({state.stuck_reason}).\n"
                    f"Scheduler Pod logs:\n{logs}"
                )
            if state.stuck_reason:
                raise PodPendingError(
                    f"Scheduler pod {live[0].name} is stuck {state.phase}: {state.stuck_reason}"
                )
            if waited > timeout * SLOW_PROGRESS_FACTOR:
                raise ResourceTimeoutError(
                    f"Scheduler pod {live[0].name} still {state.label} after {waited:.0f} s"
                )
        await asyncio.sleep(POLL_INTERVAL)


async def wait_for_service(
    api: Api, name: str, namespace: str, timeout: float, report: Report = _ignore
) -> None:
    """Wait for the scheduler Service (and, for a LoadBalancer, its external address)."""
    deadline = time.monotonic() + timeout
    while True:
        service = await find_object(Service, name, namespace, api)
        if service is not None:
            report("schedulerservice", "Created")
            spec_type = service.raw.get("spec", {}).get("type")
            ingress = service.raw.get("status", {}).get("loadBalancer", {}).get("ingress")
            if spec_type != "LoadBalancer" or ingress:
                return
        if time.monotonic() > deadline:
            what = "has no load-balancer address" if service is not None else "does not exist"
            raise ResourceTimeoutError(f"Service {name} {what} after {timeout:g} s")
        await asyncio.sleep(POLL_INTERVAL)


async def pod_logs(pod: Any) -> str:
    """A pod's log, or why it cannot be read (a crashed container may have none yet)."""
    try:
        lines = [line async for line in pod.logs()]
    except (kr8s.ServerError, kr8s.NotFoundError) as exc:
        return f"<logs unavailable: {exc}>"
    return "\n".join(lines)


async def describe_stuck_pods(api: Api, name: str, namespace: str) -> list[str]:
    """One line per pod of the cluster that is stuck or crashing, for timeout messages."""
    pods = await list_objects(Pod, namespace, api, label_selector=cluster_selector(name))
    lines = []
    for pod in pods:
        state = pod_state(pod.raw)
        if state.stuck_reason:
            lines.append(f"{pod.name}: {state.phase}, {state.stuck_reason}")
    return lines
