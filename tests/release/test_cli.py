"""The CLI maps command names to family modules and never lets a command vanish.

The attacker's case: a command module that fails to import (deleted, or broken by a bad edit
or a missing dependency) used to drop its command silently; now running that command is one
line naming the module and the ImportError, exit 2, and every other command still works.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dask_kubernetes_release.cli import COMMANDS, load_command, main

TOOLKIT = Path(__file__).resolve().parents[2] / "release" / "src"
VERIFY = "dask_kubernetes_release.verify.command"


def test_every_command_module_loads_and_has_configure_and_run() -> None:
    for command in COMMANDS:
        module = load_command(command)
        assert callable(module.configure) and callable(module.run), command


def test_a_module_that_fails_to_import_is_one_loud_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, VERIFY, None)  # any import of it now raises ImportError
    assert main(["verify", "some.whl"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: command 'verify' is unavailable: ")
    assert VERIFY in err and "ModuleNotFoundError: import of" in err  # an ImportError


def _copy_of_the_toolkit(tmp_path: Path) -> Path:
    copy = tmp_path / "src"
    shutil.copytree(
        TOOLKIT / "dask_kubernetes_release",
        copy / "dask_kubernetes_release",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return copy


def _cli(src: Path, *argv: str, as_module: bool = False) -> subprocess.CompletedProcess[str]:
    """The CLI from `src` in a fresh interpreter: through cli.main, or `-m` the package."""
    code = "import sys; from dask_kubernetes_release.cli import main; sys.exit(main(sys.argv[1:]))"
    entry = ["-m", "dask_kubernetes_release"] if as_module else ["-c", code]
    return subprocess.run(
        [sys.executable, *entry, *argv],
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        ("delete", "ModuleNotFoundError"),
        ("break", "ImportError: cannot import name 'no_such_name'"),
    ],
)
def test_a_damaged_command_module_does_not_vanish(tmp_path: Path, damage: str, error: str) -> None:
    src = _copy_of_the_toolkit(tmp_path)
    module = src / "dask_kubernetes_release" / "verify" / "command.py"
    if damage == "delete":
        module.unlink()
    else:
        module.write_text("from dask_kubernetes_release.core.errors import no_such_name\n")
    proc = _cli(src, "verify", "--help")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert VERIFY in proc.stderr and error in proc.stderr
    listing = _cli(src, "--help")
    assert listing.returncode == 0 and "verify" in listing.stdout, "still listed"
    other = _cli(src, "check", "--help")
    assert other.returncode == 0 and "manifest.json" in other.stdout, other.stderr


def test_the_package_runs_as_a_module() -> None:
    """`python -m dask_kubernetes_release` is the same CLI (the venv installs the package)."""
    proc = _cli(TOOLKIT, "check", "--help", as_module=True)
    assert proc.returncode == 0, proc.stderr
    assert "manifest.json" in proc.stdout


def test_a_package_missing_at_run_time_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The installed verifier has no PyYAML (a maintainer extra): `tag` imports it only when
    it reads the chart. That must end in one line naming the package, exit 2."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` now raises ModuleNotFoundError
    assert main(["tag", "--dry-run", "2099.1.0", "--repo", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: tag needs the package 'yaml', which is not installed here; ")
