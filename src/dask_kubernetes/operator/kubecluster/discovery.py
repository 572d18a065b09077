"""`dask_cluster_discovery` entry point: lets `dask cluster list` (dask-ctl) find KubeClusters."""

from __future__ import annotations

from collections.abc import AsyncIterator

import kr8s

from .errors import KubeClusterError
from .kr8s_api import connect
from .kubecluster import KubeCluster
from .operations import list_clusters


async def discover() -> AsyncIterator[tuple[str, type[KubeCluster]]]:
    """Yield `(name, KubeCluster)` for every DaskCluster visible in any namespace.

    Discovery runs alongside other cluster managers' discovery, so an unreachable or
    operator-less Kubernetes yields nothing rather than breaking the whole listing.
    """
    try:
        api = await connect()
        clusters = await list_clusters(api, kr8s.ALL)
    except KubeClusterError:
        return
    for cluster in clusters:
        yield cluster.name, KubeCluster
