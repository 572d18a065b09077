"""Kopf handlers, one module per resource; importing this package registers them."""

from dask_kubernetes.operator.controller import (
    autoscaler,
    cache,
    cluster,
    job,
    lifecycle,
    periodic,
    workergroup,
)

__all__ = ["autoscaler", "cache", "cluster", "job", "lifecycle", "periodic", "workergroup"]
