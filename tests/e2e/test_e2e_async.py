# mypy: disable-error-code="no-untyped-call"
# (distributed.Client is unannotated.)
"""`async with KubeCluster(asynchronous=True)`, worker groups, and discovery."""

from __future__ import annotations

from typing import Any

import pytest
from distributed import Client
from e2e_helpers import IMAGE, RESOURCE_TIMEOUT

from dask_kubernetes.operator.kubecluster import KubeCluster
from dask_kubernetes.operator.kubecluster.discovery import discover

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.mark.asyncio
async def test_async_cluster_worker_groups_and_discovery(
    operator_cluster: Any, namespace: str
) -> None:
    async with KubeCluster(
        name="asyncgroups",
        namespace=namespace,
        image=IMAGE,
        n_workers=1,
        resource_timeout=RESOURCE_TIMEOUT,
        asynchronous=True,
        quiet=True,
    ) as cluster:
        discovered = [(name, cls) async for name, cls in discover()]
        assert ("asyncgroups", KubeCluster) in discovered

        await cluster.add_worker_group(name="more", n_workers=1)
        async with Client(cluster, asynchronous=True) as client:
            await client.wait_for_workers(2, timeout=RESOURCE_TIMEOUT)
            assert await client.submit(lambda x: x + 1, 10) == 11
            await cluster.delete_worker_group(name="more")
            await cluster.wait_for_workers(1)
