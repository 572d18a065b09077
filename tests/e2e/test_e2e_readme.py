"""The README's KubeCluster examples run as written on the local stand-in (issue 15).

Each ```python block of the "For data scientists" section is run unchanged in a fresh
interpreter, the first with `KUBECONFIG` pointing at the stand-in (what `dask kubernetes local`
tells the user to export), the second on its own: it starts a stand-in itself.
"""

# mypy: disable-error-code="no-untyped-call"
# (distributed's Client is unannotated.)
from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import kr8s
import pytest
from e2e_helpers import kube_cluster, skip_on_the_container_node

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

README = Path(__file__).resolve().parents[2] / "README.md"


def _examples() -> list[str]:
    text = README.read_text()
    section = text.split("## For data scientists", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=420, env=env
    )


def test_the_section_has_both_examples() -> None:
    first, second = _examples()
    assert "dask.array" in first and "dashboard_link" in first
    assert "LocalKubernetes" in second and 'os.environ["KUBECONFIG"]' in second


def test_first_example_as_written(operator_cluster: Any) -> None:
    if not operator_cluster.local:
        pytest.skip("the README promises this on the stand-in; a real cluster needs its image")
    skip_on_the_container_node(operator_cluster, "numpy")
    first = _examples()[0]
    env = {**os.environ, "KUBECONFIG": operator_cluster.kubeconfig}
    try:
        done = _run(first, env)
    finally:
        api = kr8s.api(kubeconfig=operator_cluster.kubeconfig)
        for leftover in api.get("daskclusters", namespace=kr8s.ALL):
            if leftover.name == "analysis":
                leftover.delete()
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "1.0"
    assert re.fullmatch(r"dashboard: http://127\.0\.0\.1:\d+/status", lines[1]), lines


def test_second_example_as_written() -> None:
    if os.environ.get("DASK_KUBERNETES_TEST_KUBECONFIG"):
        pytest.skip("starts the local stand-in itself")
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    done = _run(_examples()[1], env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/status\n", done.stdout), done.stdout


def test_dashboard_is_served_on_the_stand_in(operator_cluster: Any, namespace: str) -> None:
    """bokeh is where the pods run, so the scheduler serves its dashboard, not a 404."""
    with kube_cluster("dash", namespace) as cluster:
        with urllib.request.urlopen(cluster.dashboard_link, timeout=30) as response:
            page = response.read().decode()
            assert response.status == 200
        assert "Dask" in page and "bokeh" in page.lower()
