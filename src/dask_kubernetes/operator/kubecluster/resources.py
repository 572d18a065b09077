"""kr8s classes for the operator's custom resources, as KubeCluster sees them."""

from __future__ import annotations

from kr8s.asyncio.objects import APIObject, new_class

from dask_kubernetes.operator.vocabulary import (
    API_VERSION,
    DASK_AUTOSCALER,
    DASK_CLUSTER,
    DASK_WORKER_GROUP,
    cluster_labels,
    label_selector,
    scheduler_labels,
)

DaskCluster: type[APIObject] = new_class(
    DASK_CLUSTER.kind, API_VERSION, scalable=True, scalable_spec="worker.replicas"
)
DaskWorkerGroup: type[APIObject] = new_class(
    DASK_WORKER_GROUP.kind, API_VERSION, scalable=True, scalable_spec="worker.replicas"
)
DaskAutoscaler: type[APIObject] = new_class(DASK_AUTOSCALER.kind, API_VERSION)


def scheduler_selector(cluster_name: str) -> str:
    return label_selector(scheduler_labels(cluster_name))


def cluster_selector(cluster_name: str) -> str:
    return label_selector(cluster_labels(cluster_name))
