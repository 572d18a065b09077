"""One argument-parser class for every `python -m` entry point, and each answers bad usage in one
line with exit 2.

Why: three entry points once each subclassed argparse.ArgumentParser to print one line instead
of argparse's usage block (issue #24); dask_kubernetes.common.cli holds the one subclass now, and
a fourth copy is caught here. The release toolkit's CLI (release/src/.../cli.py) reports bad
usage through its own UsageError and needs no subclass: it is scanned too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from dask_kubernetes.common.cli import ArgumentParser, UsageError

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (ROOT / "src", ROOT / "release" / "src")
ONE_PARSER = ROOT / "src" / "dask_kubernetes" / "common" / "cli.py"


def _parser_subclasses() -> list[str]:
    found = []
    for base in SOURCES:
        for path in sorted(base.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any(
                    ast.unparse(b).split(".")[-1] == "ArgumentParser" for b in node.bases
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.name}")
    return found


def _entry_points_using_it() -> list[str]:
    """Every `python -m` module of the package that builds its parser from common/cli.py."""
    modules = []
    for path in sorted((ROOT / "src").rglob("__main__.py")):
        text = path.read_text(encoding="utf-8")
        if "dask_kubernetes.common.cli import" in text:
            modules.append(".".join(path.parent.relative_to(ROOT / "src").parts))
    return modules


def test_there_is_one_argument_parser_class() -> None:
    assert _parser_subclasses() == [f"{ONE_PARSER.relative_to(ROOT)}:ArgumentParser"]


def test_the_entry_points_use_it() -> None:
    assert {"dask_kubernetes.operator", "dask_kubernetes.operator.crds"} <= set(
        _entry_points_using_it()
    )
    assert len(_entry_points_using_it()) >= 3  # and the control plane's build tooling


@pytest.mark.parametrize("module", _entry_points_using_it())
def test_bad_usage_is_one_line_and_exit_2(module: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", module, "--no-such-option"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert not proc.stderr.startswith("usage:")  # argparse's own block is several lines


def test_parse_or_exit_names_the_program(capsys: pytest.CaptureFixture[str]) -> None:
    parser = ArgumentParser(prog="x")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("go").add_argument("--jobs", type=int)
    with pytest.raises(UsageError, match="invalid int value"):
        parser.parse_args(["go", "--jobs", "many"])  # a sub-command's parser: the same class
    with pytest.raises(SystemExit) as exited:
        parser.parse_or_exit(["stop"], "tool")
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("tool: argument command: invalid choice: 'stop'") and err.count("\n") == 1
