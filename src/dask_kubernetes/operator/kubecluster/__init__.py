"""`KubeCluster` and the manifest helpers, as `dask_kubernetes.operator` re-exports them."""

from __future__ import annotations

from .kubecluster import KubeCluster
from .resource_manifests import make_cluster_spec, make_scheduler_spec, make_worker_spec

__all__ = ["KubeCluster", "make_cluster_spec", "make_scheduler_spec", "make_worker_spec"]
