"""E2E fixtures: the stand-in (or `DASK_KUBERNETES_TEST_KUBECONFIG`'s cluster) with the operator.

Tests talk to Kubernetes exactly as a user does: through `KUBECONFIG`, set for the test only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture
def operator_cluster(k8s_cluster_with_operator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The cluster running the operator, made the current kubeconfig for this test."""
    monkeypatch.setenv("KUBECONFIG", k8s_cluster_with_operator.kubeconfig)
    return k8s_cluster_with_operator


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
