"""Run a bound pod: init containers in order, then all containers, and derive the pod's status."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from dask_kubernetes.common.clock import now
from dask_kubernetes.local.kubelet.confinement import UNCONFINED, Confinement
from dask_kubernetes.local.kubelet.container_runner import ContainerRunner
from dask_kubernetes.local.kubelet.environment import SourceData
from dask_kubernetes.local.kubelet.pod_host import PodHost


class _Conditions:
    """Pod conditions whose `lastTransitionTime` moves only when their status changes."""

    def __init__(self) -> None:
        self._since: dict[str, tuple[bool, str]] = {}

    def __call__(self, kind: str, ok: bool) -> dict[str, Any]:
        previous = self._since.get(kind)
        if previous is None or previous[0] != ok:
            self._since[kind] = previous = (ok, now())
        status = "True" if ok else "False"
        return {"type": kind, "status": status, "lastTransitionTime": previous[1]}


class PodRunner:
    """Owns the containers of one pod; calls `on_status(status)` whenever the status changes."""

    def __init__(
        self,
        host: PodHost,
        pod: dict[str, Any],
        sources: SourceData,
        on_status: Callable[[dict[str, Any]], None],
        *,
        pod_ip: str,
        host_ip: str = "127.0.0.1",
        confinements: dict[str, Confinement] | None = None,
    ) -> None:
        self.pod = pod
        self.pod_ip = pod_ip
        self.host_ip = host_ip
        self.pod.setdefault("status", {}).update(podIP=pod_ip, hostIP=host_ip)
        self._on_status = on_status
        self.start_time = now()
        spec = pod.get("spec") or {}
        policy = str(spec.get("restartPolicy", "Always"))
        init_policy = "Never" if policy == "Never" else "OnFailure"

        def runner(container: dict[str, Any], restart_policy: str) -> ContainerRunner:
            return ContainerRunner(
                host,
                pod,
                container,
                sources,
                self.report,
                restart_policy=restart_policy,
                confinement=(confinements or {}).get(container["name"], UNCONFINED),
            )

        self.init_containers = [runner(c, init_policy) for c in spec.get("initContainers") or []]
        self.containers = [runner(c, policy) for c in spec.get("containers") or []]
        self.initialized = not self.init_containers
        self._task: asyncio.Task[None] | None = None
        self._last_reported: dict[str, Any] | None = None
        self._conditions = _Conditions()

    @property
    def key(self) -> str:
        return f"{self.pod['metadata']['namespace']}/{self.pod['metadata']['name']}"

    def phase(self) -> str:
        if not self.initialized:
            failed = any(c.finished and c.exit_code for c in self.init_containers)
            return "Failed" if failed else "Pending"
        if self.containers and all(c.finished for c in self.containers):
            return "Succeeded" if all(c.exit_code == 0 for c in self.containers) else "Failed"
        if all(c.started or c.finished for c in self.containers):
            return "Running"
        return "Pending"

    def status(self) -> dict[str, Any]:
        phase = self.phase()
        ready = phase == "Running" and all(c.ready for c in self.containers)
        condition = self._conditions
        return {
            "phase": phase,
            "podIP": self.pod_ip,
            "podIPs": [{"ip": self.pod_ip}],
            "hostIP": self.host_ip,
            "hostIPs": [{"ip": self.host_ip}],
            "startTime": self.start_time,
            "conditions": [
                condition("PodScheduled", True),
                condition("Initialized", self.initialized),
                condition("ContainersReady", ready),
                condition("Ready", ready),
            ],
            "initContainerStatuses": [c.status() for c in self.init_containers],
            "containerStatuses": [c.status() for c in self.containers],
        }

    def report(self) -> None:
        status = self.status()
        if status != self._last_reported:
            self._last_reported = status
            self._on_status(status)

    def start(self) -> None:
        self.report()
        self._task = asyncio.create_task(self._run(), name=f"pod {self.key}")

    async def _run(self) -> None:
        for init in self.init_containers:
            if await init.run() != 0:
                self.report()
                return
        self.initialized = True
        self.report()
        await asyncio.gather(*(c.run() for c in self.containers))
        self.report()

    @property
    def done(self) -> bool:
        return self.phase() in ("Succeeded", "Failed")

    async def stop(self, grace_seconds: float) -> None:
        """Stop every container (SIGTERM, SIGKILL after the grace period) and the supervisor."""
        everyone = self.init_containers + self.containers
        await asyncio.gather(*(c.stop(grace_seconds) for c in everyone))
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
