"""The scheduler client against a real in-process Dask scheduler and workers (HTTP JSON API)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import dask
import pytest
import pytest_asyncio
from distributed import Client, Scheduler, Worker

from dask_kubernetes.operator.manifests import SCHEDULER_ROUTES
from dask_kubernetes.operator.scheduler_client import SchedulerClient, SchedulerUnavailable

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
