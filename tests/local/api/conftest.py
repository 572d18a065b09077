"""Fixtures for the API server tests, run on every control plane (`--control-plane`): the
emulator's `APIServer` on a loopback port, in its own thread (so synchronous clients and kubectl can
use it), and the real kube-apiserver of tests/control_planes.py, the oracle the emulator is held to.

A test that asks for `kubeconfig`, `k8s`, `namespace` or `endpoint` runs once per plane; one that
also asks for the emulator's internals (`server`, `standin`, `private_server`: state dir, faults,
audit, its own controllers) runs on the emulator only. With `DASK_KUBERNETES_TEST_KUBECONFIG` set,
the plane-agnostic tests run against that cluster instead.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from api_support import eventually
from control_planes import EMULATED, EXTERNAL, NO_NODE, REAL, Endpoint, selected
from node_support import Node

from dask_kubernetes.local.apiserver import APIServer
from dask_kubernetes.local.controllers.manager import ControllerManager
from dask_kubernetes.local.credentials.kubeconfig import (
    write_kubeconfig as write_standin_kubeconfig,
)

T = TypeVar("T")
EXTERNAL_KUBECONFIG = os.environ.get("DASK_KUBERNETES_TEST_KUBECONFIG")
STANDIN_ONLY = "needs the local stand-in's API server (state dir, faults, audit, controllers)"
EMULATOR_INTERNALS = {"server", "standin", "server_thread", "private_server"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One run per plane for the plane-agnostic tests; the emulator only for its internals."""
    if "plane" not in metafunc.fixturenames:
        return
    planes: tuple[str, ...] = (EXTERNAL,) if EXTERNAL_KUBECONFIG else selected(metafunc.config)
    internals = EMULATOR_INTERNALS & set(metafunc.fixturenames)
    if internals and "needs_node" not in metafunc.fixturenames:
        planes = tuple(p for p in planes if p != REAL)
    metafunc.parametrize("plane", planes, indirect=True, scope="session")


class ServerThread:
    """Runs an APIServer, and the emulated controllers beside it, on a private event loop in a
    daemon thread (as `local/emulated.py` composes them)."""

    def __init__(self, state_dir: Path, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = APIServer(state_dir=state_dir, **options)
        self.controllers = ControllerManager(self.server.objects)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def call(self, function: Callable[[], T]) -> T:
        """Run `function` on the server's loop (for touching server internals safely)."""

        async def wrapper() -> T:
            return function()

        return self.run(wrapper())

    def __enter__(self) -> APIServer:
        self.thread.start()
        self.run(self.server.start())
        self.call(self.controllers.start)
        return self.server

    def __exit__(self, *exc: object) -> None:
        self.run(self.server.stop())
        self.run(self.controllers.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def write_kubeconfig(path: Path, server: APIServer) -> Path:
    """A kubeconfig with the server's admin token (and CA), written by the stand-in's own writer."""
    return write_standin_kubeconfig(
        path, server.url, token=server.admin_token, ca_pem=server.ca_pem, name="local"
    )


@pytest.fixture(scope="session")
def server_thread(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    """One shared server for the suite, as a real cluster would be; tests isolate by namespace."""
    if EXTERNAL_KUBECONFIG:
        pytest.skip(STANDIN_ONLY)
    if EMULATED not in selected(request.config):
        pytest.skip(f"{STANDIN_ONLY}; --control-plane={REAL} leaves the emulator out")
    # HTTPS, as `LocalKubernetes` serves: kubectl and helm send no token over plain HTTP.
    thread = ServerThread(tmp_path_factory.mktemp("apiserver"), bookmark_interval=0.2, tls=True)
    with thread:
        yield thread


@pytest.fixture(scope="session")
def server(server_thread: ServerThread) -> APIServer:
    return server_thread.server


@pytest.fixture
def standin(server: APIServer) -> APIServer:
    """Depend on this to mark a test as exercising the stand-in's own behaviour."""
    return server


@dataclass
class Plane:
    """The control plane a test runs on: its name (the test id), admin kubeconfig and endpoint;
    on the real plane, the session's cluster (`tests/conftest.py`'s `real_plane`)."""

    name: str
    kubeconfig: Path
    endpoint: Endpoint
    cluster: Any = None


@pytest.fixture(scope="session")
def plane(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Plane:
    name = str(request.param)
    if name == EXTERNAL:
        assert EXTERNAL_KUBECONFIG
        kubeconfig = Path(EXTERNAL_KUBECONFIG)
    elif name == EMULATED:
        server: APIServer = request.getfixturevalue("server")
        kubeconfig = write_kubeconfig(tmp_path_factory.mktemp("kube") / "config", server)
    else:
        cluster = request.getfixturevalue("real_plane")
        kubeconfig = Path(cluster.kubeconfig)
        return Plane(name, kubeconfig, Endpoint.from_kubeconfig(kubeconfig), cluster)
    return Plane(name, kubeconfig, Endpoint.from_kubeconfig(kubeconfig))


@pytest.fixture(scope="session")
def kubeconfig(plane: Plane) -> Path:
    return plane.kubeconfig


@pytest.fixture(scope="session")
def endpoint(plane: Plane) -> Endpoint:
    """Raw HTTPS to the plane's API server as its admin."""
    return plane.endpoint


@pytest.fixture
def needs_node(plane: Plane) -> None:
    """For a test that needs a running pod (a kubelet): the bare real plane (no root) has none."""
    if plane.name == REAL and not plane.cluster.node:
        pytest.skip(NO_NODE)


@pytest.fixture
def node(request: pytest.FixtureRequest, plane: Plane, needs_node: None, tmp_path: Path) -> Node:
    """What runs this test's pods: our kubelet on the real plane, the test itself on the
    emulator (`node_support`)."""
    if plane.name == REAL:
        return Node(True, Path(plane.cluster.stand_in.state_dir), tmp_path)
    if plane.name == EXTERNAL:
        pytest.skip("the node's log files are local: not on an external cluster")
    server: APIServer = request.getfixturevalue("server")
    return Node(False, server.state_dir, tmp_path)


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[ServerThread]:
    """A server of one's own, for tests that change faults or need a small history."""
    if EXTERNAL_KUBECONFIG:
        pytest.skip(STANDIN_ONLY)
    thread = ServerThread(tmp_path / "state", history_size=20, bookmark_interval=0.2)
    with thread:
        yield thread


@pytest.fixture
def private_kubeconfig(private_server: ServerThread, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "private-kubeconfig", private_server.server)


@pytest.fixture
def namespace(plane: Plane) -> Iterator[str]:
    """A fresh namespace, deleted afterwards; on a real cluster, once kube-controller-manager
    has finished with it (pods can be admitted, the root CA ConfigMap is there)."""
    from kubernetes import client, config

    api = config.new_client_from_config(str(plane.kubeconfig))
    core = client.CoreV1Api(api)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    if plane.name != EMULATED:
        # ServiceAccount admission refuses pods (403) until kube-controller-manager has made
        # the namespace's `default` ServiceAccount; the emulator has neither (see "Differences").
        eventually(lambda: core.list_namespaced_service_account(name).items, "a default SA")
        # kube-controller-manager also publishes `kube-root-ca.crt` into every new namespace;
        # a watch opened before it lands would see that ADDED event as the test's own.
        eventually(
            lambda: (
                core.list_namespaced_config_map(
                    name, field_selector="metadata.name=kube-root-ca.crt"
                ).items
            ),
            "the kube-root-ca.crt ConfigMap",
        )
    yield name
    core.delete_namespace(name)
    api.close()


@pytest.fixture
def k8s(kubeconfig: Path) -> Iterator[Any]:
    """The official client's ApiClient, configured from the kubeconfig."""
    from kubernetes import config

    api = config.new_client_from_config(str(kubeconfig))
    yield api
    api.close()
