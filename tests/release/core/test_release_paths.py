"""Which clone the maintainer commands work on, when the toolkit is installed and not a clone.

The attacker's case (a confused deputy): installed from a wheel, the toolkit used to take the
directory four levels above its own file (inside site-packages) for the repository, so `tag`,
`build` or `pipeline` run in a clone worked on some other directory. Now the clone is found
from the working directory, as git does, and outside any clone the command stops with one line
(exit 2) before touching anything.

An installed copy is simulated by copying the package outside any clone and putting only it on
PYTHONPATH (the project environment's third-party packages stay importable).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dask_kubernetes_release.core.paths import find_clone, is_clone

ROOT = Path(__file__).resolve().parents[3]
TOOLKIT = ROOT / "release" / "src" / "dask_kubernetes_release"


@pytest.fixture
def installed_copy(tmp_path: Path) -> Path:
    """site-packages stand-in: the toolkit package alone, in no clone."""
    site = tmp_path / "venv" / "lib" / "python3" / "site-packages"
    shutil.copytree(TOOLKIT, site / TOOLKIT.name, ignore=shutil.ignore_patterns("__pycache__"))
    assert find_clone(site) is None
    return site


def _installed(site: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    home = site.parents[3] / "home"
    home.mkdir(exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "dask_kubernetes_release", *argv],
        cwd=cwd, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(home)},
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _clone(into: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(ROOT), str(into)], check=True)
    return into


def test_the_clone_is_recognised_by_its_markers(tmp_path: Path) -> None:
    assert is_clone(ROOT)
    assert find_clone(ROOT / "release" / "src") == ROOT
    # A directory with only a pyproject.toml naming the project is not a clone.
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "pyproject.toml").write_text('[project]\nname = "dask-kubernetes"\n')
    assert find_clone(fake) is None


def test_an_installed_toolkit_finds_the_clone_from_the_working_directory(
    installed_copy: Path, tmp_path: Path
) -> None:
    clone = _clone(tmp_path / "work")
    nested = clone / "docs"
    code = (
        "import dask_kubernetes_release as p, sys; "
        "from dask_kubernetes_release.core.paths import repository_root; "
        "print(p.__file__); print(repository_root())"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=nested,
        env={"PYTHONPATH": str(installed_copy), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    package_file, root = proc.stdout.splitlines()
    assert Path(package_file).is_relative_to(installed_copy)  # the copy, not the clone's source
    assert Path(root) == clone.resolve()


def test_an_installed_toolkit_tags_the_clone_it_is_run_in(
    installed_copy: Path, tmp_path: Path
) -> None:
    clone = _clone(tmp_path / "work")
    proc = _installed(installed_copy, clone / "docs", "tag", "--dry-run", "2099.1.0")
    # Whatever the verdict of the checks, they ran on this clone, and nothing was tagged.
    assert f"Checking {clone.resolve()} before tagging 2099.1.0:" in proc.stdout, proc.stderr
    assert proc.returncode in (0, 1), proc.stderr
    tags = subprocess.run(["git", "-C", str(clone), "tag", "-l", "2099.1.0"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert tags.stdout == ""


@pytest.mark.parametrize(
    "argv",
    [("tag", "--dry-run", "2099.1.0"), ("build", "--out", "dist"), ("pipeline", "--out", "o")],
)
def test_outside_any_clone_a_maintainer_command_stops_in_one_line(
    installed_copy: Path, tmp_path: Path, argv: tuple[str, ...]
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    proc = _installed(installed_copy, outside, *argv)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [
        f"error: {outside.resolve()} is not inside a clone of dask-kubernetes (no pyproject.toml "
        "naming dask-kubernetes beside release/ here or above): run this command from a clone"
    ]
    assert sorted(p.name for p in outside.iterdir()) == [], "nothing was written"
