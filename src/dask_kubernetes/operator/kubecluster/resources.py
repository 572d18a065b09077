"""kr8s classes for the operator's custom resources, as KubeCluster sees them."""

from __future__ import annotations

from kr8s.asyncio.objects import APIObject, new_class

from dask_kubernetes.operator.manifests import (
    CLUSTER_LABEL,
    label_selector,
    scheduler_labels,
    scheduler_name,
)

from .spec import API_VERSION

DaskCluster: type[APIObject] = new_class(
    "DaskCluster", API_VERSION, scalable=True, scalable_spec="worker.replicas"
)
DaskWorkerGroup: type[APIObject] = new_class(
    "DaskWorkerGroup", API_VERSION, scalable=True, scalable_spec="worker.replicas"
)
DaskAutoscaler: type[APIObject] = new_class("DaskAutoscaler", API_VERSION)


def scheduler_selector(cluster_name: str) -> str:
    return label_selector(scheduler_labels(cluster_name))


def cluster_selector(cluster_name: str) -> str:
    return label_selector({CLUSTER_LABEL: cluster_name})


def scheduler_service_name(cluster_name: str) -> str:
    return scheduler_name(cluster_name)


def worker_group_name(cluster_name: str, group: str) -> str:
    return f"{cluster_name}-{group}"
