"""`dask_cluster_discovery` entry point: lets `dask cluster list` (dask-ctl) find Helm releases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import kr8s
from kr8s.asyncio.objects import Pod

from dask_kubernetes.operator.kubecluster.errors import KubeClusterError
from dask_kubernetes.operator.kubecluster.kr8s_api import connect, list_objects

from .helmcluster import HelmCluster


async def discover() -> AsyncIterator[tuple[str, type[HelmCluster]]]:
    """Yield `(<release>.<namespace>, HelmCluster)` for each chart scheduler pod visible.

    An unreachable Kubernetes yields nothing, so other managers' discovery still lists theirs.
    """
    try:
        api = await connect()
        pods = await list_objects(Pod, kr8s.ALL, api, label_selector="component=scheduler")
    except KubeClusterError:
        return
    seen: set[str] = set()
    for pod in pods:
        labels = pod.raw["metadata"].get("labels", {})
        if labels.get("release") and labels.get("app"):
            name = f"{labels['release']}.{pod.namespace}"
            if name not in seen:
                seen.add(name)
                yield name, HelmCluster
