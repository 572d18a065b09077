"""Where provisioning finds the clone (`local/provision/paths.py`): from an editable install the
clone around the package, from an installed copy the working directory's, and otherwise one line.

Why: tools/kube/ and the chart were found with `Path(__file__).parents[4]`, which from a wheel in
site-packages names a directory that is no clone, and failed later with a missing file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from controlplane_support import assert_one_line_error

from dask_kubernetes.local.provision import paths

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "dask_kubernetes"


def _installed_copy(tmp_path: Path) -> Path:
    """dask_kubernetes copied into a site-packages-like directory outside any clone."""
    site = tmp_path / "site-packages"
    shutil.copytree(PACKAGE, site / "dask_kubernetes", ignore=shutil.ignore_patterns("__pycache__"))
    return site


def test_the_clone_is_the_one_around_the_package() -> None:
    assert paths.repository_root() == ROOT
    assert paths.kube_modules() == ROOT / "tools" / "kube"
    assert paths.operator_chart().joinpath("Chart.yaml").is_file()


def test_outside_a_clone_an_installed_copy_finds_the_working_directorys(tmp_path: Path) -> None:
    here = tmp_path / "site-packages" / "dask_kubernetes" / "local" / "provision" / "paths.py"
    assert paths.repository_root(here, cwd=ROOT / "docs" / "design") == ROOT
    with pytest.raises(paths.CloneNotFound) as raised:
        paths.repository_root(here, cwd=tmp_path)
    message = str(raised.value)
    assert str(tmp_path) in message and "\n" not in message


def test_a_near_miss_is_no_clone(tmp_path: Path) -> None:
    """A pyproject.toml naming another project, or ours without tools/kube/, is not a clone."""
    (tmp_path / "tools" / "kube").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "dask-kubernetes-fork"\n')
    assert not paths.is_clone(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "dask-kubernetes"\n')
    assert paths.is_clone(tmp_path)
    shutil.rmtree(tmp_path / "tools")
    assert not paths.is_clone(tmp_path)


def test_the_command_from_an_installed_copy_outside_a_clone_is_one_line_exit_2(
    tmp_path: Path,
) -> None:
    site = _installed_copy(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import dask_kubernetes; print(dask_kubernetes.__file__)"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=True,
    )  # fmt: skip
    assert where.stdout.strip() == str(site / "dask_kubernetes" / "__init__.py")
    result = subprocess.run(
        [sys.executable, "-m", "dask_kubernetes.local.provision", "build"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    line = assert_one_line_error(result, 2)
    assert "not inside a clone of dask-kubernetes" in line


def test_the_first_name_of_the_command_still_runs_it() -> None:
    """go.mod's generated block names `python -m dask_kubernetes.local.controlplane gomod`."""
    result = subprocess.run(
        [sys.executable, "-m", "dask_kubernetes.local.controlplane", "frobnicate"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    line = assert_one_line_error(result, 2)
    assert (
        line.startswith("python -m dask_kubernetes.local.provision:") and "invalid choice" in line
    )
