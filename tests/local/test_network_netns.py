"""The real plane's network namespace and kube-proxy's endpoint choice, without the binaries.

Namespace tests need root (they skip saying so); the EndpointSlice tests are pure.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from typing import Any

import pytest

from dask_kubernetes.local.network.netns import (
    HOST_ADDRESS,
    NODE_ADDRESS,
    NamespaceLoop,
    NetworkNamespace,
    namespace_exists,
)
from dask_kubernetes.local.network.proxy import ready_addresses, slice_backends

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


@root_only
def test_a_namespace_has_only_lo_and_local_routes_and_goes_away() -> None:
    namespace = NetworkNamespace.create()
    try:
        assert namespace_exists(namespace.name)
        links = subprocess.run(
            ["ip", "-n", namespace.name, "-o", "link"], capture_output=True, text=True, check=True
        ).stdout
        assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
        local = subprocess.run(
            ["ip", "-n", namespace.name, "route", "show", "table", "local"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "local 10.244.0.0/16 dev lo" in local
        assert "local 10.96.0.0/12 dev lo" in local
        assert f"local {NODE_ADDRESS} dev lo" in local
    finally:
        namespace.delete()
    assert not namespace_exists(namespace.name)


@root_only
def test_the_loop_thread_binds_pod_ips_and_its_children_are_inside() -> None:
    namespace = NetworkNamespace.create()
    loop = NamespaceLoop(namespace)
    try:
        loop.start()

        async def inside() -> tuple[str, str]:
            with socket.socket() as listener:
                listener.bind(("10.244.7.9", 0))  # any pod IP, no address added
                bound = listener.getsockname()[0]
            child = subprocess.run(
                ["ip", "route", "show", "table", "local"], capture_output=True, text=True
            ).stdout
            return bound, child

        bound, child_view = asyncio.run(loop.run(inside()))
        assert bound == "10.244.7.9"
        assert "local 10.244.0.0/16 dev lo" in child_view
        # This (host) thread is not inside: it cannot bind a pod IP.
        with socket.socket() as outside, pytest.raises(OSError):
            outside.bind(("10.244.7.9", 0))
    finally:
        loop.stop()
        namespace.delete()


@root_only
def test_listen_on_host_from_the_namespace_thread_makes_a_host_socket() -> None:
    """Node ports: made on the namespace's thread, the listener still lives in the host's
    namespace (this thread connects to it), and the loop thread stays inside."""
    namespace = NetworkNamespace.create()
    loop = NamespaceLoop(namespace)
    try:
        loop.start()

        async def make() -> tuple[socket.socket, str]:
            listener = loop.listen_on_host(HOST_ADDRESS, 0)
            with socket.socket() as probe:
                probe.bind(("10.244.7.9", 0))  # still inside afterwards
                return listener, probe.getsockname()[0]

        listener, still_inside = asyncio.run(loop.run(make()))
        with listener:
            assert still_inside == "10.244.7.9"
            port = listener.getsockname()[1]
            with socket.create_connection((HOST_ADDRESS, port), timeout=5):
                accepted, _ = listener.accept()
                accepted.close()
    finally:
        loop.stop()
        namespace.delete()


def _slice(port_name: str, port: int, *endpoints: tuple[str, bool | None]) -> dict[str, Any]:
    return {
        "ports": [{"name": port_name, "port": port}],
        "endpoints": [
            {"addresses": [ip], **({} if ready is None else {"conditions": {"ready": ready}})}
            for ip, ready in endpoints
        ],
    }


def test_kube_proxy_forwards_to_ready_endpoints_of_the_named_port_only() -> None:
    slices = [
        _slice("http", 8080, ("10.244.0.2", True), ("10.244.0.3", False), ("10.244.0.4", None)),
        _slice("metrics", 9090, ("10.244.0.2", True)),
    ]
    assert slice_backends(slices, {"name": "http", "port": 80}) == [
        ("10.244.0.2", 8080),
        ("10.244.0.4", 8080),
    ]
    assert slice_backends(slices, {"name": "other", "port": 80}) == []
    assert ready_addresses(slices) == ["10.244.0.2", "10.244.0.4"]
