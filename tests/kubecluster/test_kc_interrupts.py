"""The SIGTERM handler KubeCluster installs: only over the default action, only in its own process.

Each case runs in a fresh interpreter (signal dispositions are per process); what the handler
would delete comes from a stand-in source that writes the process id it was asked in, so no
Kubernetes is needed. tests/e2e/test_e2e_interrupts.py deletes real clusters.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PRELUDE = """
import os, signal, sys, time
from pathlib import Path
from dask_kubernetes.operator.kubecluster import interrupts

marker = Path(sys.argv[1])

def owned():
    marker.write_text(str(os.getpid()))  # asked what to delete: this process acted
    return []
"""


def run(code: str, marker: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code), str(marker)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sigterm_deletes_then_dies_of_sigterm(tmp_path: Path) -> None:
    marker = tmp_path / "asked"
    result = run(
        """
        interrupts.protect_from_sigterm(owned)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(60)
        print("survived")
        """,
        marker,
    )
    assert result.returncode == -signal.SIGTERM, result.stderr
    assert "survived" not in result.stdout
    assert marker.exists()


@pytest.mark.parametrize("previous", ["own handler", "SIG_IGN"])
def test_a_programs_own_disposition_is_kept(tmp_path: Path, previous: str) -> None:
    marker = tmp_path / "asked"
    install = {
        "own handler": "signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))",
        "SIG_IGN": "signal.signal(signal.SIGTERM, signal.SIG_IGN)",
    }[previous]
    result = run(
        f"""
        {install}
        interrupts.protect_from_sigterm(owned)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.5)
        print("still here")
        """,
        marker,
    )
    expected = 7 if previous == "own handler" else 0
    assert result.returncode == expected, result.stderr
    assert not marker.exists()


def test_a_forked_child_deletes_nothing_of_its_parents(tmp_path: Path) -> None:
    """multiprocessing's fork children inherit the handler and a copy of the parent's clusters;
    SIGTERM (how its pool ends them) must not delete the parent's clusters from there."""
    marker = tmp_path / "asked"
    result = run(
        """
        interrupts.protect_from_sigterm(owned)
        ready_r, ready_w = os.pipe()
        child = os.fork()
        if child == 0:
            os.write(ready_w, b"x")  # up and running Python (a signal before that is dropped)
            time.sleep(60)
            os._exit(0)
        os.read(ready_r, 1)
        os.kill(child, signal.SIGTERM)
        _, status = os.waitpid(child, 0)
        print("child", os.WTERMSIG(status) if os.WIFSIGNALED(status) else "exited")
        """,
        marker,
    )
    assert result.returncode == 0, result.stderr
    assert f"child {int(signal.SIGTERM)}" in result.stdout
    assert not marker.exists()
