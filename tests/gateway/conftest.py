"""Gateway fixtures: a gateway process (our backend) against the stand-in with the operator.

One gateway per test module, in a namespace of its own (deleted afterwards, with everything
in it); each test stops the clusters it made (`cleanup`), so per-user limits start from zero.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kr8s
import pytest
from gateway_helpers import RunningGateway, start_gateway, wait_for
from kr8s.objects import Namespace


@pytest.fixture(scope="module")
def gateway_namespace(k8s_cluster_with_operator: Any) -> Iterator[str]:
    api = kr8s.api(kubeconfig=k8s_cluster_with_operator.kubeconfig)
    namespace = Namespace({"metadata": {"name": f"gw-{uuid.uuid4().hex[:10]}"}}, api=api)
    namespace.create()
    yield str(namespace.name)
    namespace.delete()


@pytest.fixture(scope="module")
def gateway(
    k8s_cluster_with_operator: Any, gateway_namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    running = start_gateway(
        k8s_cluster_with_operator.kubeconfig,
        tmp_path_factory.mktemp("gateway"),
        gateway_namespace,
    )
    yield running
    running.stop()
    assert running.process.returncode is not None


@pytest.fixture
def cleanup(gateway: RunningGateway) -> Iterator[None]:
    """After the test: every DaskCluster of this gateway deleted, and gone."""
    yield
    for cluster in gateway.daskclusters():
        cluster.delete()
    wait_for(lambda: not gateway.daskclusters(), "the test's DaskClusters to be gone")


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path
