"""The scheduler client against a real in-process Dask scheduler and workers (HTTP JSON API),
and the names it refuses to call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import dask
import kr8s.asyncio
import pytest
import pytest_asyncio
from distributed import Client, Scheduler, Worker

from dask_kubernetes.operator.child_manifests import SCHEDULER_ROUTES
from dask_kubernetes.operator.rest import Kube
from dask_kubernetes.operator.scheduler_client import (
    ACCESS_ENV,
    SchedulerClient,
    SchedulerUnavailable,
    scheduler_dashboard_url,
)
from dask_kubernetes.operator.vocabulary import InvalidName

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def scheduler() -> AsyncIterator[Scheduler]:
    with dask.config.set({"distributed.scheduler.http.routes": list(SCHEDULER_ROUTES)}):
        async with Scheduler(host="127.0.0.1", port=0, dashboard_address="127.0.0.1:0") as s:
            yield s


def _client(scheduler: Scheduler) -> SchedulerClient:
    return SchedulerClient.at_url(f"http://127.0.0.1:{scheduler.http_server.port}")


async def test_retire_moves_held_data_first(scheduler: Scheduler) -> None:
    async with (
        Worker(scheduler.address, name="w-0", nthreads=1) as w0,
        Worker(scheduler.address, name="w-1", nthreads=1) as w1,
        Client(scheduler.address, asynchronous=True) as client,
    ):
        held = await client.scatter(list(range(20)), workers=[w0.address])
        api = _client(scheduler)
        assert {w.name for w in await api.workers()} == {"w-0", "w-1"}
        (retired,) = await api.retire(addresses=[w0.address])
        assert (retired.name, retired.address) == ("w-0", w0.address)
        assert set(scheduler.workers) == {w1.address}
        assert await client.gather(held) == list(range(20))


async def test_retire_n_lets_the_scheduler_choose(scheduler: Scheduler) -> None:
    async with (
        Worker(scheduler.address, name="a", nthreads=1),
        Worker(scheduler.address, name="b", nthreads=1),
    ):
        retired = await _client(scheduler).retire(n=1)
        assert len(retired) == 1 and retired[0].name in {"a", "b"}
        assert len(scheduler.workers) == 1


async def test_adaptive_target_and_idle(scheduler: Scheduler) -> None:
    api = _client(scheduler)
    assert await api.adaptive_target() == 0
    idle = await api.idle_since()
    assert idle is None or idle > 0


async def test_unreachable_scheduler_is_reported() -> None:
    with pytest.raises(SchedulerUnavailable):
        await SchedulerClient.at_url("http://127.0.0.1:9").workers()


@pytest_asyncio.fixture
async def trap() -> AsyncIterator[list[bytes]]:
    """A listener on 127.0.0.1 standing for "another host": it records every connection."""
    seen: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.read(200))
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 14\r\n\r\n{"workers": 7}')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(record, "127.0.0.1", 0)
    seen.append(str(server.sockets[0].getsockname()[1]).encode())  # [0]: the port, not a visit
    async with server:
        yield seen


@pytest.mark.parametrize("access", ["direct", "proxy"])
async def test_a_cluster_name_cannot_pick_another_host(
    trap: list[bytes], access: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`spec.cluster` of an autoscaler becomes the scheduler's host name: a host, a port or a
    path in it must be refused before any connection (issue 11)."""
    monkeypatch.setenv(ACCESS_ENV, access)
    port = trap[0].decode()
    steering = [f"127.0.0.1:{port}/", f"127.0.0.1:{port}/../x", f"127.0.0.1:{port}#", "a/b"]
    kube = Kube(kr8s.asyncio.Api.__new__(kr8s.asyncio.Api))  # never reached: names come first
    for cluster in steering:
        with pytest.raises(InvalidName):
            await SchedulerClient.for_cluster(kube, "ns", cluster).adaptive_target()
    with pytest.raises(InvalidName):
        SchedulerClient.for_cluster(kube, "../other", "simple")
    assert trap[1:] == [], "the operator connected to a host other than its scheduler"


async def test_the_scheduler_url_names_only_the_clusters_service() -> None:
    url = scheduler_dashboard_url("team-a", "simple")
    assert (url.scheme, url.host, url.port) == (
        "http",
        "simple-scheduler.team-a.svc.cluster.local",
        8787,
    )
    with pytest.raises(InvalidName):
        scheduler_dashboard_url("team-a", "evil.example:80/")
