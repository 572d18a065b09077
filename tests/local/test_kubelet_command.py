"""Command resolution: args-only containers, `$(VAR)` in argv, shims, missing programs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dask_kubernetes.local.kubelet.command import CommandError, container_argv, search_path
from dask_kubernetes.local.kubelet.shims import install_shims


@pytest.fixture
def shim_path(tmp_path: Path) -> str:
    return search_path(install_shims(tmp_path / "bin"))


def test_args_only_container_runs_its_args(shim_path: str) -> None:
    argv = container_argv({"args": ["python", "-c", "pass"]}, {}, shim_path)
    assert Path(argv[0]).name == "python"
    assert argv[1:] == ["-c", "pass"]


def test_command_plus_args_with_expansion(shim_path: str) -> None:
    container = {"command": ["dask-worker"], "args": ["--name", "$(NAME)"]}
    argv = container_argv(container, {"NAME": "w-1"}, shim_path)
    assert argv[1:] == ["--name", "w-1"]
    assert argv[0].endswith("/bin/dask-worker")


def test_shims_run_dask_entry_points(tmp_path: Path, shim_path: str) -> None:
    argv = container_argv({"args": ["dask-scheduler", "--help"]}, {}, shim_path)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
    assert "--dashboard-address" in out
    python = container_argv(
        {"args": ["python", "-c", "import sys; print(sys.executable)"]}, {}, shim_path
    )
    printed = subprocess.run(python, capture_output=True, text=True, timeout=30, check=True)
    assert Path(printed.stdout.strip()).resolve() == Path(sys.executable).resolve()


def test_missing_program_and_empty_container(shim_path: str) -> None:
    with pytest.raises(CommandError, match="not found"):
        container_argv({"args": ["no-such-program-xyz"]}, {}, shim_path)
    with pytest.raises(CommandError, match="no command or args"):
        container_argv({"image": "ghcr.io/dask/dask"}, {}, shim_path)
