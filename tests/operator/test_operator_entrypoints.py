"""Entry points of the operator: light package import, CLI argument handling, plugins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dask_kubernetes.operator.plugins import ENTRY_POINT_GROUP, load_plugins


def _python(*args: str, env_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = None
    if env_path is not None:
        import os

        env = dict(os.environ) | {"PYTHONPATH": str(env_path)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=False, env=env
    )


def test_package_import_is_light() -> None:
    proc = _python(
        "-c",
        "import sys, dask_kubernetes.operator as op; "
        "assert 'kopf' not in sys.modules, 'kopf imported'; "
        "assert 'dask_kubernetes.operator.kubecluster' not in sys.modules; "
        "print(sorted(op.__all__))",
    )
    assert proc.returncode == 0, proc.stderr
    assert "KubeCluster" in proc.stdout and "make_cluster_spec" in proc.stdout


def test_unknown_attribute_raises() -> None:
    import dask_kubernetes.operator as op

    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = op.no_such_thing


@pytest.mark.parametrize(
    "args",
    [("--bogus",), ("--namespace", "a", "--all-namespaces"), ("--standalone", "--peering", "p")],
)
def test_cli_bad_arguments(args: tuple[str, ...]) -> None:
    proc = _python("-m", "dask_kubernetes.operator", *args)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_plugins_load_from_entry_points(tmp_path: Path) -> None:
    """A package declaring a `dask_operator_plugin` entry point is imported (and a broken one
    skipped) — the same group name as upstream."""
    (tmp_path / "myplugin.py").write_text("LOADED = True\n")
    dist = tmp_path / "myplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\ngood = myplugin\nbroken = not_a_module_anywhere\n"
    )
    proc = _python(
        "-c",
        "from dask_kubernetes.operator.plugins import load_plugins; "
        "print([getattr(p, 'LOADED', None) for p in load_plugins()])",
        env_path=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[True]"
    assert "skipping operator plugin broken" in proc.stderr


def test_no_plugins_is_fine() -> None:
    assert ENTRY_POINT_GROUP == "dask_operator_plugin"
    assert isinstance(load_plugins(), list)
