"""Networking parts without an API server: address plan, IP pools, TCP forwarders, endpoints."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import socket
import struct

import pytest

from dask_kubernetes.local.network.address_plan import AddressClaim, choose_address_plan
from dask_kubernetes.local.network.dns_map import hosts_for_services, write_dns_map
from dask_kubernetes.local.network.endpoints import backends, endpoints_subsets
from dask_kubernetes.local.network.forwarder import TcpForwarder
from dask_kubernetes.local.network.ip_pool import AddressPool, AddressPoolExhausted


def test_address_plan_ranges_do_not_overlap() -> None:
    plan = choose_address_plan(random.Random(1))
    assert 10 <= plan.block <= 250
    ranges = [
        ipaddress.IPv4Network(c)
        for c in (plan.pod_cidr, plan.service_cidr, plan.load_balancer_cidr)
    ]
    assert all(r.subnet_of(plan.network) for r in ranges)
    assert not any(a.overlaps(b) for i, a in enumerate(ranges) for b in ranges[i + 1 :])


def test_address_claims_never_share_a_block() -> None:
    # The same seed proposes the same block first: the lock file must make the second move on.
    first = AddressClaim.acquire(random.Random(7))
    second = AddressClaim.acquire(random.Random(7))
    try:
        assert first.plan.block != second.plan.block
    finally:
        first.release()
        second.release()


def test_address_pool_allocates_reuses_and_exhausts() -> None:
    pool = AddressPool("127.50.0.0/29")  # hosts .1-.6; .1 is skipped
    first = pool.allocate("a")
    assert first == "127.50.0.2"
    assert pool.allocate("a") == first  # same owner, same address
    others = [pool.allocate(name) for name in "bcde"]
    assert len({*others, first}) == 5
    with pytest.raises(AddressPoolExhausted):
        pool.allocate("f")
    pool.release("a")
    assert pool.allocate("f") == first


async def _echo_server() -> tuple[asyncio.Server, int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"echo:" + await reader.read(100))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.asyncio
async def test_forwarder_splices_to_the_chosen_backend_and_rejects_without_one() -> None:
    server, port = await _echo_server()
    backend: list[tuple[str, int]] = [("127.0.0.1", port)]
    forwarder = TcpForwarder("127.51.0.1", 0, lambda: backend[0] if backend else None)
    await forwarder.start()
    try:
        reader, writer = await asyncio.open_connection("127.51.0.1", forwarder.port)
        writer.write(b"hi")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(100), 5) == b"echo:hi"
        writer.close()
        backend.clear()
        reader, writer = await asyncio.open_connection("127.51.0.1", forwarder.port)
        assert await asyncio.wait_for(reader.read(100), 5) == b""  # closed: no endpoint
        writer.close()
    finally:
        await forwarder.stop()
        server.close()
        await server.wait_closed()


@pytest.mark.asyncio
async def test_a_reset_client_closes_the_backend_connection() -> None:
    """A pod killed mid-connection resets its socket; the backend must see the connection end.

    Otherwise a Dask scheduler behind a Service keeps a dead worker listed (and its lost results
    counted as held) until heartbeats time out, minutes later.
    """
    ended = asyncio.Event()

    async def idle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # b"" at EOF, or an error on reset: either way the peer is gone
        ended.set()
        writer.close()

    server = await asyncio.start_server(idle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    forwarder = TcpForwarder("127.51.0.3", 0, lambda: ("127.0.0.1", port))
    await forwarder.start()
    try:
        _, writer = await asyncio.open_connection("127.51.0.3", forwarder.port)
        writer.write(b"hello")
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST, as for a process killed with unread data
        await asyncio.wait_for(ended.wait(), 5)
    finally:
        await forwarder.stop()
        server.close()
        await server.wait_closed()


@pytest.mark.asyncio
async def test_stop_listening_keeps_open_connections_and_refuses_new_ones() -> None:
    async def chat(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(b"re:" + line)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(chat, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    forwarder = TcpForwarder("127.51.0.2", 0, lambda: ("127.0.0.1", port))
    await forwarder.start()
    try:
        reader, writer = await asyncio.open_connection("127.51.0.2", forwarder.port)
        writer.write(b"one\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"re:one\n"
        forwarder.stop_listening()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.51.0.2", forwarder.port)
        writer.write(b"two\n")  # the established connection carries on
        assert await asyncio.wait_for(reader.readline(), 5) == b"re:two\n"
        assert forwarder.open_connections == 1
        writer.close()
    finally:
        await forwarder.stop()
        server.close()
        await server.wait_closed()


def _pod(name: str, ip: str, ready: bool, labels: dict[str, str]) -> dict:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": name, "labels": labels},
        "spec": {
            "nodeName": "local",
            "containers": [{"name": "c", "ports": [{"name": "comm", "containerPort": 8786}]}],
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_endpoints_route_only_to_ready_selected_pods_with_named_ports() -> None:
    service = {
        "metadata": {"name": "sched", "namespace": "ns"},
        "spec": {
            "selector": {"app": "s"},
            "ports": [{"name": "tcp", "port": 80, "targetPort": "comm"}],
        },
    }
    pods = [
        _pod("a", "127.9.0.2", True, {"app": "s"}),
        _pod("b", "127.9.0.3", False, {"app": "s"}),
        _pod("c", "127.9.0.4", True, {"app": "other"}),
    ]
    assert backends(service, service["spec"]["ports"][0], pods) == [("127.9.0.2", 8786)]
    (subset,) = endpoints_subsets(service, pods)
    assert [a["ip"] for a in subset["addresses"]] == ["127.9.0.2"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["127.9.0.3"]
    assert subset["ports"] == [{"name": "tcp", "port": 8786, "protocol": "TCP"}]


def test_dns_map_has_cluster_ips_and_ready_pods_for_headless_services(tmp_path) -> None:
    services = [
        {"metadata": {"name": "sched", "namespace": "a"}, "spec": {"clusterIP": "127.9.128.1"}},
        {"metadata": {"name": "peers", "namespace": "a"}, "spec": {"clusterIP": "None"}},
        {"metadata": {"name": "empty", "namespace": "a"}, "spec": {"clusterIP": "None"}},
    ]
    hosts = hosts_for_services(services, {"a/peers": ["127.9.0.2", "127.9.0.3"]})
    assert hosts == {
        "sched.a.svc.cluster.local": ["127.9.128.1"],
        "peers.a.svc.cluster.local": ["127.9.0.2", "127.9.0.3"],
    }
    path = tmp_path / "dns.json"
    write_dns_map(path, hosts)
    assert json.loads(path.read_text()) == {"hosts": dict(sorted(hosts.items()))}
    assert [p.name for p in tmp_path.iterdir()] == ["dns.json"]
