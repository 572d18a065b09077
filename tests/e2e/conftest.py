"""E2E fixtures: the stand-in (or `DASK_KUBERNETES_TEST_KUBECONFIG`'s cluster) with the operator.

Tests talk to Kubernetes exactly as a user does: through `KUBECONFIG`, set for the test only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import kr8s
import pytest
from kr8s.objects import Namespace


@pytest.fixture(scope="session")
def _dask_crds(k8s_cluster_with_operator: Any) -> None:
    """Install the Dask CRDs on the stand-in if it lacks them (a real cluster's Helm chart does).

    A bridge: remove once `LocalKubernetes(operator=True)` installs the CRDs itself.
    """
    if not k8s_cluster_with_operator.local:
        return
    from kr8s.objects import CustomResourceDefinition

    from dask_kubernetes.operator.crds import load_crds

    api = kr8s.api(kubeconfig=k8s_cluster_with_operator.kubeconfig)
    present = {c["metadata"]["name"] for c in api.get("customresourcedefinitions", raw=True)}
    for crd in load_crds():
        if crd["metadata"]["name"] not in present:
            CustomResourceDefinition(crd, api=api).create()


@pytest.fixture
def operator_cluster(
    k8s_cluster_with_operator: Any, _dask_crds: None, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The cluster running the operator, made the current kubeconfig for this test."""
    monkeypatch.setenv("KUBECONFIG", k8s_cluster_with_operator.kubeconfig)
    return k8s_cluster_with_operator


def _fresh_namespace(kubeconfig: str) -> Iterator[str]:
    api = kr8s.api(kubeconfig=kubeconfig)
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    namespace = Namespace({"metadata": {"name": name}}, api=api)
    namespace.create()
    try:
        yield name
    finally:
        namespace.delete()


@pytest.fixture
def namespace(operator_cluster: Any) -> Iterator[str]:
    """A fresh namespace in the operator cluster, deleted with its contents afterwards."""
    yield from _fresh_namespace(operator_cluster.kubeconfig)


@pytest.fixture
def second_namespace(operator_cluster: Any) -> Iterator[str]:
    yield from _fresh_namespace(operator_cluster.kubeconfig)


@pytest.fixture(autouse=True)
def _no_leaked_port_forwards() -> Iterator[None]:
    """Every KubeCluster a test opened must have stopped its port-forward thread."""
    yield
    import threading

    leaked = [
        t.name for t in threading.enumerate() if t.name.startswith("KubeCluster port-forward")
    ]
    assert not leaked, f"port-forward threads left running: {leaked}"
