"""Kopf handlers, one module per resource; importing this package registers them.

Each resource module (cluster, workergroup, job, autoscaler) holds its `reconcile()` and its
handlers; what they share (state, cache, status writes, schedules) is the kit in `kit/`.
"""

from dask_kubernetes.operator.controller import autoscaler, cluster, job, lifecycle, workergroup
from dask_kubernetes.operator.controller.kit import cache, periodic

__all__ = ["autoscaler", "cache", "cluster", "job", "lifecycle", "periodic", "workergroup"]
