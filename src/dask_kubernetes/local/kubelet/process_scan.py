"""Find (and kill) processes started for a stand-in, by the state-dir marker in their environment.

The safety net behind "nothing is left behind": it catches processes that escaped their process
group, and the tests use it to prove none survive.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

# Every process the stand-in starts carries this variable, set to its state dir.
STATE_DIR_MARKER = "DASK_K8S_LOCAL_STATE_DIR"


def processes_of(state_dir: Path) -> list[int]:
    """PIDs whose environment carries this stand-in's state-dir marker (ours excluded)."""
    needle = f"{STATE_DIR_MARKER}={state_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def kill_processes_of(state_dir: Path) -> list[int]:
    """SIGKILL every process of this stand-in; returns the PIDs signalled."""
    pids = processes_of(state_dir)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids
