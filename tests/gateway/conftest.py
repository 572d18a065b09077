"""Gateway fixtures: a gateway process (our backend) against a cluster with the operator, on
each control plane `--control-plane` selects (the emulator's stand-in, the real plane).

One gateway per test module and plane, in a namespace of its own (deleted afterwards, with
everything in it); each test stops the clusters it made (`cleanup`), so per-user limits start
from zero. On the real plane the gateway runs inside the plane's network namespace, where the
Pods are (gwdeploy's tests run it as a Pod under its ServiceAccount).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kr8s
import pytest
from control_planes import EMULATED, REAL, selected
from gateway_helpers import RunningGateway, start_gateway, wait_for
from kr8s.objects import Namespace

CLUSTERS = {EMULATED: "k8s_cluster_with_operator", REAL: "k8s_real_cluster_with_operator"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "gw_plane" in metafunc.fixturenames:
        metafunc.parametrize("gw_plane", selected(metafunc.config), indirect=True, scope="module")


@pytest.fixture(scope="module")
def gw_plane(request: pytest.FixtureRequest) -> Any:
    """The cluster with the operator on this variant's plane."""
    return request.getfixturevalue(CLUSTERS[request.param])


@pytest.fixture(scope="module")
def gateway_namespace(gw_plane: Any) -> Iterator[str]:
    api = kr8s.api(kubeconfig=gw_plane.kubeconfig)
    namespace = Namespace({"metadata": {"name": f"gw-{uuid.uuid4().hex[:10]}"}}, api=api)
    namespace.create()
    yield str(namespace.name)
    namespace.delete()


@pytest.fixture(scope="module")
def spawn_gateway(
    gw_plane: Any, gateway_namespace: str
) -> Iterator[Callable[[Path], RunningGateway]]:
    """Start (another) gateway of the same instance, e.g. a replica or a restart."""
    started: list[RunningGateway] = []

    def spawn(state_dir: Path) -> RunningGateway:
        running = start_gateway(
            gw_plane.kubeconfig, state_dir, gateway_namespace, stand_in=gw_plane.stand_in
        )
        started.append(running)
        return running

    yield spawn
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def gateway(
    spawn_gateway: Callable[[Path], RunningGateway], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    running = spawn_gateway(tmp_path_factory.mktemp("gateway"))
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
