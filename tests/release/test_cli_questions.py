"""`--help` and `--version` need nothing: `python3 -m release` answers them in a fresh clone with
only the base interpreter, creating no .venv and installing nothing.

The case this guards: `release tag --help` used to bootstrap the whole test environment first
(minutes of pip installs) before printing three lines of usage. Run with the interpreter the
project environment was made from, on a snapshot of this work tree; with `-S` (no site-packages
at all) to stand for a machine with nothing but python3.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dask_kubernetes_release.cli import COMMANDS, DISTRIBUTION

BASE_PYTHON = Path(getattr(sys, "_base_executable", sys.executable))
# Generous for a loaded 2-core machine; a bootstrap takes minutes.
ANSWER_SECONDS = 30


@pytest.fixture(scope="module")
def fresh_clone(
    snapshot_work_tree: Callable[[Path], Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    clone = snapshot_work_tree(tmp_path_factory.mktemp("fresh") / "dask-kubernetes")
    assert not (clone / ".venv").exists()
    return clone


def _ask(
    clone: Path, *argv: str, bare: bool = True
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    python = [str(BASE_PYTHON), "-S"] if bare else [str(BASE_PYTHON)]
    proc = subprocess.run(
        [*python, "-m", "release", *argv],
        cwd=clone, env={"PATH": "/usr/bin:/bin", "HOME": str(clone.parent)},
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    return proc, time.monotonic() - started


@pytest.mark.parametrize("bare", [True, False], ids=["python3 -S", "python3"])
def test_tag_help_answers_at_once_and_sets_nothing_up(fresh_clone: Path, bare: bool) -> None:
    proc, seconds = _ask(fresh_clone, "tag", "--help", bare=bare)
    assert proc.returncode == 0, proc.stderr
    assert "[bootstrap]" not in proc.stderr
    assert proc.stdout.startswith("usage: python -m release tag ")
    assert "--dry-run" in proc.stdout and "VERSION" in proc.stdout
    assert seconds < ANSWER_SECONDS
    assert not (fresh_clone / ".venv").exists()


@pytest.mark.parametrize("command", ["bootstrap", *COMMANDS])
def test_every_command_help_answers_without_an_environment(fresh_clone: Path, command: str) -> None:
    proc, _ = _ask(fresh_clone, command, "-h")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: python -m release {command}"), proc.stdout
    assert proc.stderr == ""
    if "Its options cannot be listed" in proc.stdout:  # a command that needs packages
        assert "python3 -m release bootstrap" in proc.stdout
    assert not (fresh_clone / ".venv").exists()


def test_version_and_the_listing_answer_without_an_environment(fresh_clone: Path) -> None:
    version, _ = _ask(fresh_clone, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith(f"{DISTRIBUTION} ")
    listing, _ = _ask(fresh_clone, "--help")
    assert listing.returncode == 0 and "tag" in listing.stdout
    bare, _ = _ask(fresh_clone)
    assert bare.returncode == 2 and "required: COMMAND" in bare.stderr
    assert not (fresh_clone / ".venv").exists()


def test_version_names_the_installed_toolkit(release: Callable[..., object]) -> None:
    """In the project environment the toolkit is installed: its version comes from its metadata."""
    import importlib.metadata

    result = release("--version")
    assert result.code == 0  # type: ignore[attr-defined]
    expected = f"{DISTRIBUTION} {importlib.metadata.version(DISTRIBUTION)}\n"
    assert result.out == expected  # type: ignore[attr-defined]
