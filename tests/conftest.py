"""Shared test configuration, including the Kubernetes cluster fixtures every e2e test uses."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures" / "pypi-attestations"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def attestation_fixtures() -> Path:
    """Real PyPI attestations (never copied into the repo)."""
    if not FIXTURES.is_dir():
        pytest.fail(f"attestation fixtures not found at {FIXTURES}")
    return FIXTURES


# -- Kubernetes cluster fixtures (the local stand-in, or a real cluster) ------------------------
#
# `DASK_KUBERNETES_TEST_KUBECONFIG=/path/to/kubeconfig` runs the same tests against a real cluster
# (e.g. kind in the release workflow); otherwise a `LocalKubernetes` stand-in serves the session.

EXTERNAL_KUBECONFIG = "DASK_KUBERNETES_TEST_KUBECONFIG"


@dataclass
class K8sCluster:
    """What a test may rely on: a kubeconfig; the API server object only on the stand-in."""

    kubeconfig: str
    api_server: Any | None
    local: bool
    stand_in: Any | None = None

    def require_api_server(self) -> Any:
        """Fault injection and the audit log exist only on the stand-in."""
        if self.api_server is None:
            pytest.skip("needs the local stand-in's API server (fault injection / audit)")
        return self.api_server


def _cluster(operator: bool) -> Iterator[K8sCluster]:
    external = os.environ.get(EXTERNAL_KUBECONFIG)
    if external:
        yield K8sCluster(kubeconfig=external, api_server=None, local=False)
        return
    from dask_kubernetes.local import LocalKubernetes

    with LocalKubernetes(operator=operator) as k8s:
        yield K8sCluster(
            kubeconfig=k8s.kubeconfig, api_server=k8s.api_server, local=True, stand_in=k8s
        )


@pytest.fixture(scope="session")
def k8s_cluster() -> Iterator[K8sCluster]:
    """A Kubernetes cluster for the session: the local stand-in (no operator) by default."""
    yield from _cluster(operator=False)


@pytest.fixture(scope="session")
def k8s_cluster_with_operator() -> Iterator[K8sCluster]:
    """A second stand-in running the dask-kubernetes operator (a real cluster must have it)."""
    yield from _cluster(operator=True)


@pytest.fixture
def make_namespace() -> Iterator[Callable[[K8sCluster], str]]:
    """Fresh namespaces on demand; each is deleted, with its contents, after the test."""
    import kr8s
    from kr8s.objects import Namespace

    created: list[Namespace] = []

    def make(cluster: K8sCluster) -> str:
        api = kr8s.api(kubeconfig=cluster.kubeconfig)
        namespace = Namespace({"metadata": {"name": f"test-{uuid.uuid4().hex[:10]}"}}, api=api)
        namespace.create()
        created.append(namespace)
        return str(namespace.name)

    yield make
    for namespace in created:
        namespace.delete()


@pytest.fixture
def k8s_namespace(k8s_cluster: K8sCluster, make_namespace: Callable[[K8sCluster], str]) -> str:
    """A fresh namespace in `k8s_cluster`, deleted (with everything in it) afterwards."""
    return make_namespace(k8s_cluster)
