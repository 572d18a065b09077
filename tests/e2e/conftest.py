"""E2E fixtures: each test runs on both planes of the stand-in with the operator, the emulated
API server and the real control plane (our kubelet as its node, the operator under the chart's
RBAC), (`--control-plane`, default both) or once on `DASK_KUBERNETES_TEST_KUBECONFIG`'s cluster.

Tests talk to Kubernetes exactly as a user does: through `KUBECONFIG`, set for the test only.
The real variant skips saying why where it cannot run (no root, no built binaries).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from control_planes import EMULATED, EXTERNAL, REAL, selected

#: The session cluster with the operator for each plane `--control-plane` selects.
CLUSTERS = {
    EMULATED: "k8s_cluster_with_operator",
    REAL: "k8s_real_cluster_with_operator",
    EXTERNAL: "k8s_cluster_with_operator",  # it yields DASK_KUBERNETES_TEST_KUBECONFIG's cluster
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`operator_cluster` once per selected plane (`--control-plane`, default both)."""
    if "operator_cluster" in metafunc.fixturenames:
        external = os.environ.get("DASK_KUBERNETES_TEST_KUBECONFIG")
        planes = (EXTERNAL,) if external else selected(metafunc.config)
        metafunc.parametrize("operator_cluster", planes, indirect=True)


@pytest.fixture
def operator_cluster(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The cluster running the operator on this variant's plane, made the current kubeconfig.

    On the container node KubeCluster's default image is the Dask image built here from the
    release's wheel (there is no registry to pull ghcr.io/dask/dask from): in this process's
    Dask config and, for the `dask kubernetes` commands the tests run, in the environment."""
    cluster = request.getfixturevalue(CLUSTERS[request.param])
    monkeypatch.setenv("KUBECONFIG", cluster.kubeconfig)
    image = getattr(cluster, "dask_image", None)
    if image:
        import dask.config

        monkeypatch.setenv("DASK_KUBERNETES__IMAGE", image)
        monkeypatch.setitem(dask.config.config.setdefault("kubernetes", {}), "image", image)
    return cluster


@pytest.fixture
def namespace(operator_cluster: Any, make_namespace: Callable[[Any], str]) -> str:
    """A fresh namespace in the operator cluster, deleted with its contents afterwards."""
    return make_namespace(operator_cluster)


@pytest.fixture
def second_namespace(operator_cluster: Any, make_namespace: Callable[[Any], str]) -> str:
    return make_namespace(operator_cluster)


@pytest.fixture(autouse=True)
def _no_leaked_port_forwards() -> Iterator[None]:
    """Every KubeCluster a test opened must have stopped its port-forward thread."""
    yield
    import threading

    leaked = [
        t.name for t in threading.enumerate() if t.name.startswith("KubeCluster port-forward")
    ]
    assert not leaked, f"port-forward threads left running: {leaked}"
