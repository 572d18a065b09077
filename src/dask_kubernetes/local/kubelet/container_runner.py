"""Run one container of a pod: start, probe, restart per `restartPolicy`, report its status."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from pathlib import Path
from subprocess import SubprocessError
from typing import Any

from dask_kubernetes.common.clock import now
from dask_kubernetes.local.kubelet.command import CommandError, container_argv
from dask_kubernetes.local.kubelet.confinement import UNCONFINED, Confinement
from dask_kubernetes.local.kubelet.environment import (
    MissingEnvSourceError,
    SourceData,
    container_environment,
)
from dask_kubernetes.local.kubelet.pod_host import PodHost, pod_dir, process_environment
from dask_kubernetes.local.kubelet.probes import ProbeLoop, probe_once
from dask_kubernetes.local.kubelet.process import ContainerProcess

_MAX_BACKOFF = 10.0


class ContainerRunner:
    """Supervises one container; `status()` is its `containerStatuses` entry."""

    def __init__(
        self,
        host: PodHost,
        pod: dict[str, Any],
        container: dict[str, Any],
        sources: SourceData,
        on_change: Callable[[], None],
        *,
        restart_policy: str,
        confinement: Confinement = UNCONFINED,
    ) -> None:
        self.host = host
        self.confinement = confinement
        self.pod = pod
        self.container = container
        self.sources = sources
        self.name = str(container["name"])
        self.restart_policy = restart_policy
        self._on_change = on_change
        self.process: ContainerProcess | None = None
        self.state: dict[str, Any] = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: dict[str, Any] = {}
        self.restart_count = 0
        self.ready = False
        self.started = False
        self.finished = False
        self._stopping = False
        self._env: dict[str, str] = {}

    def status(self) -> dict[str, Any]:
        pid = self.process.pid if self.process else None
        return {
            "name": self.name,
            "image": self.container.get("image", ""),
            "imageID": "",
            "containerID": f"local://{pid}" if pid else "",
            "ready": self.ready,
            "started": self.started and "running" in self.state,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }

    @property
    def exit_code(self) -> int | None:
        terminated = self.state.get("terminated")
        return None if terminated is None else int(terminated["exitCode"])

    def _set_ready(self, ready: bool) -> None:
        if ready != self.ready:
            self.ready = ready
            self._on_change()

    def _log_path(self, previous: bool = False) -> Path:
        meta = self.pod["metadata"]
        return self.host.log_path(meta["namespace"], meta["name"], self.name, previous)

    def _rotate_log(self) -> None:
        current = self._log_path()
        if current.exists():
            current.replace(self._log_path(previous=True))

    async def _start(self) -> ContainerProcess:
        declared = container_environment(self.pod, self.container, self.sources)
        self._env = process_environment(self.host, self.pod, declared)
        argv = container_argv(self.container, declared, self._env["PATH"])
        cwd = Path(self.container.get("workingDir") or pod_dir(self.host, self.pod))
        cwd.mkdir(parents=True, exist_ok=True)
        return await ContainerProcess.start(
            argv, self._env, cwd, self._log_path(), self.confinement
        )

    def _probe_tasks(self, pod_ip: str) -> list[asyncio.Task[None]]:
        tasks = []
        readiness = self.container.get("readinessProbe")
        if readiness is None:
            self._set_ready(True)
        else:
            loop = self._probe_loop(readiness, pod_ip, self._set_ready, initial=False)
            tasks.append(asyncio.create_task(loop))
        liveness = self.container.get("livenessProbe")
        if liveness is not None:
            loop = self._probe_loop(liveness, pod_ip, self._on_liveness, initial=True)
            tasks.append(asyncio.create_task(loop))
        return tasks

    async def _probe_loop(
        self,
        probe: dict[str, Any],
        pod_ip: str,
        on_change: Callable[[bool], None],
        *,
        initial: bool,
    ) -> None:
        async def attempt() -> bool:
            return await probe_once(
                probe,
                pod_ip=pod_ip,
                container=self.container,
                env=self._env,
                session=self.host.session,
                confinement=self.confinement,
            )

        await ProbeLoop(probe, attempt, on_change, initial=initial).run()

    def _on_liveness(self, alive: bool) -> None:
        if not alive and self.process is not None:
            self.process.signal_group(signal.SIGKILL)

    async def _run_once(self) -> int:
        started_at = now()
        try:
            self.process = await self._start()
        except (CommandError, MissingEnvSourceError, OSError, SubprocessError) as exc:
            # SubprocessError: the confinement failed in the child (its log says why)
            self.state = {
                "terminated": {
                    "exitCode": 128,
                    "reason": "StartError",
                    "message": str(exc),
                    "startedAt": started_at,
                    "finishedAt": now(),
                }
            }
            return 128
        if self._stopping:
            self.process.signal_group(signal.SIGKILL)
        self.started = True
        self.state = {"running": {"startedAt": started_at}}
        self._on_change()
        probes = self._probe_tasks(str(self.pod["status"].get("podIP", "")))
        try:
            code = await self.process.wait()
        except asyncio.CancelledError:
            self.process.signal_group(signal.SIGKILL)
            raise
        finally:
            for task in probes:
                task.cancel()
            await asyncio.gather(*probes, return_exceptions=True)
        # Kill what the main process left behind in its group.
        await self.process.stop(0)
        self.ready = False
        self.state = {
            "terminated": {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": started_at,
                "finishedAt": now(),
                "containerID": f"local://{self.process.pid}",
            }
        }
        return code

    def _should_restart(self, code: int) -> bool:
        if self._stopping:
            return False
        return self.restart_policy == "Always" or (self.restart_policy == "OnFailure" and code != 0)

    async def run(self) -> int:
        """Run until the container is done for good (never returns under `Always`)."""
        backoff = 0.5
        while True:
            code = await self._run_once()
            if not self._should_restart(code):
                self.finished = True
                self._on_change()
                return code
            self.last_state = self.state
            self.state = {"waiting": {"reason": "CrashLoopBackOff"}}
            self._on_change()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)
            self.restart_count += 1
            self._rotate_log()

    async def stop(self, grace_seconds: float) -> None:
        self._stopping = True
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                await self.process.stop(grace_seconds)
