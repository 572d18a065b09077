"""One container instance as a local process group.

Each container runs in its own session (so its whole process tree is one group we can signal), with
output going to its log file, confined as `admission` decided (user, capabilities, read-only file
system: `confinement`), and is killed if the kubelet's thread dies (Linux `PR_SET_PDEATHSIG`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from dask_kubernetes.local.kubelet.confinement import UNCONFINED, Confinement


def exit_code(returncode: int) -> int:
    """Kubernetes reports a signal death as 128 + signal number."""
    return 128 - returncode if returncode < 0 else returncode


class ContainerProcess:
    """A started container process; `stop()` escalates SIGTERM to SIGKILL for the whole group."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.pid = process.pid

    @classmethod
    async def start(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        confinement: Confinement = UNCONFINED,
    ) -> ContainerProcess:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                *argv,
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=confinement.apply,
            )
        return cls(process)

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(self) -> int:
        """Wait for the main process; returns the Kubernetes exit code."""
        return exit_code(await self._process.wait())

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    async def stop(self, grace_seconds: float) -> int:
        """SIGTERM the group, SIGKILL it after the grace period, and reap the main process."""
        if self._process.returncode is None:
            self.signal_group(signal.SIGTERM)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._process.wait(), timeout=max(grace_seconds, 0.0))
        # Descendants may outlive the main process; the group dies with it.
        self.signal_group(signal.SIGKILL)
        return await self.wait()
