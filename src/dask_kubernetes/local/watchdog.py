"""A watchdog process that kills a stand-in's processes when the stand-in itself dies.

The composer holds the write end of the watchdog's stdin; the watchdog blocks reading it. When the
composer exits for any reason — even SIGKILL, when no cleanup code runs — the pipe closes, and the
watchdog kills every process carrying the stand-in's state-dir marker, then everything a container
node left (its containers by cgroup, the processes of its mount namespace, whose mounts die with
it; its cgroups: `containernode/cleanup.py`), removes the network namespace of a real-plane
cluster if it has one, then exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path

from dask_kubernetes.local.containernode.cleanup import clean as clean_container_nodes
from dask_kubernetes.local.kubelet.process_scan import kill_processes_of
from dask_kubernetes.local.network.netns import delete_namespace


class Watchdog:
    """Started by the composer; `stop()` is the orderly way to let it go."""

    def __init__(self, state_dir: Path, netns: str | None = None) -> None:
        self.state_dir = state_dir
        self.netns = netns
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from dask_kubernetes.local.watchdog import main; main()",
            str(self.state_dir),
            *([self.netns] if self.netns else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to the composer's group must not kill it first
        )

    async def stop(self) -> None:
        if self._process is not None and self._process.stdin is not None:
            self._process.stdin.close()
            await self._process.wait()
            self._process = None


def main() -> None:
    state_dir = Path(sys.argv[1])
    with contextlib.suppress(OSError, KeyboardInterrupt):
        sys.stdin.buffer.read()
    kill_processes_of(state_dir)
    with contextlib.suppress(OSError):  # the namespace must go even if this fails
        clean_container_nodes(state_dir)
    if len(sys.argv) > 2:
        delete_namespace(sys.argv[2])
