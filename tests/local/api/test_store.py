"""The store's resourceVersions and bounded history."""

from __future__ import annotations

import pytest

from dask_kubernetes.local.apimachinery.errors import APIError
from dask_kubernetes.local.apiserver.store import Store

CM = ("", "configmaps")


def cm(name: str) -> dict:
    return {"metadata": {"name": name, "namespace": "ns"}}


@pytest.mark.asyncio
async def test_resource_versions_increase_and_history_replays() -> None:
    store = Store(history_size=100)
    first = store.write(CM, cm("a"), "ADDED")
    second = store.write(CM, cm("b"), "ADDED")
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    subscription, backlog = store.subscribe(CM, int(first["metadata"]["resourceVersion"]))
    assert [e.object["metadata"]["name"] for e in backlog] == ["b"]
    store.remove(CM, "ns", "a")
    event = subscription.queue.get_nowait()
    assert event is not None and event.type == "DELETED"
    assert event.resource_version == store.revision


@pytest.mark.asyncio
async def test_compacted_history_is_gone() -> None:
    store = Store(history_size=3)
    start = store.revision
    for index in range(5):
        store.write(CM, cm(f"c{index}"), "ADDED")
    with pytest.raises(APIError) as info:
        store.subscribe(CM, start)
    assert info.value.code == 410
    _, backlog = store.subscribe(CM, store.revision - 2)
    assert len(backlog) == 2
