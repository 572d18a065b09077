"""Fixtures for the API server tests: a real `APIServer` on a loopback port, in its own thread
(so synchronous clients and kubectl can use it), and a kubeconfig with its admin token.

With `DASK_KUBERNETES_TEST_KUBECONFIG` set, the tests written purely against the Kubernetes API run
against that cluster instead; those needing the stand-in's internals (state dir, faults, audit)
or its particular controllers skip there.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dask_kubernetes.local.apiserver import APIServer
from dask_kubernetes.local.kubeconfig import write_kubeconfig as write_standin_kubeconfig

T = TypeVar("T")
EXTERNAL_KUBECONFIG = os.environ.get("DASK_KUBERNETES_TEST_KUBECONFIG")
STANDIN_ONLY = "needs the local stand-in's API server (state dir, faults, audit, controllers)"


class ServerThread:
    """Runs an APIServer on a private event loop in a daemon thread."""

    def __init__(self, state_dir: Path, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = APIServer(state_dir=state_dir, **options)

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
        return self.server

    def __exit__(self, *exc: object) -> None:
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def write_kubeconfig(path: Path, server: APIServer) -> Path:
    """A kubeconfig with the server's admin token (and CA), written by the stand-in's own writer."""
    return write_standin_kubeconfig(
        path, server.url, token=server.admin_token, ca_pem=server.ca_pem, name="local"
    )


@pytest.fixture(scope="session")
def server_thread(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """One shared server for the suite, as a real cluster would be; tests isolate by namespace."""
    if EXTERNAL_KUBECONFIG:
        pytest.skip(STANDIN_ONLY)
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


@pytest.fixture(scope="session")
def kubeconfig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if EXTERNAL_KUBECONFIG:
        return Path(EXTERNAL_KUBECONFIG)
    server: APIServer = request.getfixturevalue("server")
    return write_kubeconfig(tmp_path_factory.mktemp("kube") / "config", server)


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
def namespace(kubeconfig: Path) -> Iterator[str]:
    """A fresh namespace, deleted afterwards."""
    from kubernetes import client, config

    api = config.new_client_from_config(str(kubeconfig))
    core = client.CoreV1Api(api)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
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
