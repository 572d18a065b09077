"""The one informer (`common/informer.py`) over the stand-in's `ApiClient`, against a real API
server of its own: what vanished while it was away (beyond the server's history) is reported as
deleted, and a failing handler is not retried forever."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from conftest import ServerThread

from dask_kubernetes.local.client.api_client import ApiClient
from dask_kubernetes.local.client.informer import Informer

PATH = "/api/v1/namespaces/default/configmaps"


async def _until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Await a condition; the bound is only against a hang."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{what} did not happen within {timeout}s")
        await asyncio.sleep(0.02)


def _client(private_server: ServerThread) -> ApiClient:
    server = private_server.server
    return ApiClient(server.url, token=server.admin_token, ca_pem=server.ca_pem)


async def _create(client: ApiClient, name: str) -> dict[str, Any]:
    return dict(await client.request("POST", PATH, body={"metadata": {"name": name}}))


def test_what_vanished_meanwhile_is_reported_deleted(private_server: ServerThread) -> None:
    async def scenario() -> list[tuple[str, str]]:
        client = _client(private_server)
        seen: list[tuple[str, str]] = []
        informer = Informer(client, PATH, lambda t, o: seen.append((t, o["metadata"]["name"])))
        try:
            informer.start()
            await _create(client, "gone")
            await _until(lambda: ("ADDED", "gone") in seen, "the ADDED event")
            await informer.stop()
            await client.request("DELETE", f"{PATH}/gone")
            for index in range(30):  # more than the server's history of 20 events
                await _create(client, f"c{index}")
            informer.start()
            await _until(lambda: len(informer.objects) == 30, "the fresh list")
        finally:
            await informer.stop()
            await client.close()
        return seen

    seen = asyncio.run(scenario())
    assert ("DELETED", "gone") in seen
    assert ("ADDED", "c29") in seen


def test_a_failing_handler_ends_the_informer(private_server: ServerThread) -> None:
    """A bug in a handler is not a transport failure: the task ends with it, loudly."""

    def handler(kind: str, obj: dict[str, Any]) -> None:
        raise KeyError("a handler bug")

    async def scenario() -> None:
        client = _client(private_server)
        await _create(client, "x")
        informer = Informer(client, PATH, handler)
        try:
            with pytest.raises(KeyError, match="a handler bug"):
                await asyncio.wait_for(informer.run(), 60)
        finally:
            await client.close()

    asyncio.run(scenario())
