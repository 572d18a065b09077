"""`dask kubernetes`: a subcommand module that fails to import is an error, never a missing command.

Run through dask's real `dask` CLI (its `dask_cli` entry point) in a child Python, where an import
hook makes one of our subcommand modules fail the way a broken install or a bad edit would.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# Installs a finder that makes MODULE fail to import with EXC, then runs dask's CLI with ARGS.
CHILD = """\
import importlib.abc, sys
module, exc, args = sys.argv[1], sys.argv[2], sys.argv[3:]

class Broken(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != module:
            return None
        if exc == "missing":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        raise RuntimeError("boom while importing " + name)

sys.meta_path.insert(0, Broken())
sys.argv = ["dask", *args]
from dask.cli import run_cli
run_cli()
"""


def dask_cli(*args: str, broken: str = "", exc: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, broken or "-", exc or "-", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_intact_cli_lists_every_subcommand() -> None:
    done = dask_cli("kubernetes", "--help")
    assert done.returncode == 0, done.stderr
    for command in ("local", "gen", "list", "scale", "delete", "port-forward", "logs"):
        assert command in done.stdout
    assert "unavailable" not in done.stdout + done.stderr


@pytest.mark.parametrize("exc", ["raises", "missing"])
@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("dask_kubernetes.cli.local", ["kubernetes", "local", "--help"]),
        ("dask_kubernetes.cli.local", ["kubernetes", "gen", "cluster", "--name", "x"]),
        ("dask_kubernetes.cli.clusters", ["kubernetes", "list"]),
    ],
)
def test_a_subcommand_module_that_fails_to_import_is_one_line_exit_2(
    module: str, args: list[str], exc: str
) -> None:
    done = dask_cli(*args, broken=module, exc=exc)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert module in lines[0]
    assert ("RuntimeError: boom" if exc == "raises" else "ModuleNotFoundError") in lines[0]
    assert "Traceback" not in done.stderr


def test_help_still_answers_and_names_the_broken_module() -> None:
    done = dask_cli("kubernetes", "--help", broken="dask_kubernetes.cli.local", exc="raises")
    assert done.returncode == 0, done.stderr
    assert "unavailable" in done.stdout
    assert "dask_kubernetes.cli.local" in done.stdout
    assert "Traceback" not in done.stderr
