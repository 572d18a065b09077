"""Container processes: SIGTERM first, SIGKILL after the grace period, the whole group dies."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from dask_kubernetes.local.kubelet.process import ContainerProcess

# A process that ignores SIGTERM and starts a grandchild in its group, printing both PIDs.
STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, lambda *a: print("got SIGTERM", flush=True))
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(os.getpid(), child.pid, flush=True)
while True:
    time.sleep(0.05)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    return state != "Z"


async def _wait_for_line(log: Path, count: int, timeout: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= count:
            return lines
        await asyncio.sleep(0.05)
    raise AssertionError(f"log has {lines!r}")


@pytest.mark.asyncio
async def test_stop_escalates_to_sigkill_and_kills_the_group(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    proc = await ContainerProcess.start(
        [sys.executable, "-c", STUBBORN], dict(os.environ), tmp_path, log
    )
    main_pid, child_pid = map(int, (await _wait_for_line(log, 1))[0].split())
    assert main_pid == proc.pid and _alive(child_pid)
    started = time.monotonic()
    code = await proc.stop(grace_seconds=0.5)
    assert time.monotonic() - started >= 0.5  # it waited out the grace period
    assert code == 128 + 9
    assert "got SIGTERM" in log.read_text()
    deadline = time.monotonic() + 5
    while _alive(child_pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not _alive(child_pid)


@pytest.mark.asyncio
async def test_exit_codes_are_reported(tmp_path: Path) -> None:
    proc = await ContainerProcess.start(
        [sys.executable, "-c", "import sys; print('bye'); sys.exit(3)"],
        dict(os.environ),
        tmp_path,
        tmp_path / "c.log",
    )
    assert await proc.wait() == 3
    assert (tmp_path / "c.log").read_text() == "bye\n"
