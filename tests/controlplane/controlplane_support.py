"""For the control-plane tests: run the CLI, find Go and the built binaries, or skip saying why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from control_planes import BUILD_HINT, built_binaries, machine_go

# Defined once in tests/control_planes.py (the conformance suites need them too).
__all__ = ["BUILD_HINT", "built_binaries", "machine_go"]

CLI = [sys.executable, "-m", "dask_kubernetes.local.provision"]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def path_without_go() -> str:
    """PATH minus every directory that holds a `go`."""
    keep = [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and not (Path(entry) / "go").exists()
    ]
    return os.pathsep.join(keep)


#: kubectl must use the kubeconfig a test names, never the user's KUBECONFIG.
KUBECTL_ENV = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}


def run_kubectl(
    kubectl: Path, kubeconfig: Path | str, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`kubectl --kubeconfig KUBECONFIG ARGS`; with `check`, a failure fails the test."""
    result = subprocess.run(
        [str(kubectl), "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=KUBECTL_ENV,
        check=False,
    )
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result
