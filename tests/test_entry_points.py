"""Every entry point pyproject.toml declares is installed and imports to something usable."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
DECLARED = [
    (group, name, target)
    for group, points in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "entry-points"
    ].items()
    for name, target in points.items()
]


def test_pyproject_declares_the_dask_integration_points() -> None:
    groups = {group for group, _, _ in DECLARED}
    assert {"dask_cli", "dask_cluster_discovery"} <= groups


@pytest.mark.parametrize(("group", "name", "target"), DECLARED)
def test_entry_point_is_installed_and_loads(group: str, name: str, target: str) -> None:
    installed = {ep.name: ep for ep in entry_points(group=group)}
    assert name in installed, f"{group}:{name} is declared but not installed (reinstall)"
    assert installed[name].value == target
    loaded = installed[name].load()
    assert callable(loaded), f"{group}:{name} -> {target} is not callable"
