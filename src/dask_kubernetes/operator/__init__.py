"""The Dask operator: CRDs, a kopf controller and their manifests.

Kept light to import: the controller (and kopf) load only when the operator runs, and the
KubeCluster API (with upstream's `discover` for dask-ctl) is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

# Upstream's public names, each with the module that defines it here.
_LAZY_NAMES = {
    "KubeCluster": "dask_kubernetes.operator.kubecluster",
    "make_cluster_spec": "dask_kubernetes.operator.kubecluster",
    "make_scheduler_spec": "dask_kubernetes.operator.kubecluster",
    "make_worker_spec": "dask_kubernetes.operator.kubecluster",
    "discover": "dask_kubernetes.operator.kubecluster.discovery",
}

__all__ = sorted(_LAZY_NAMES)


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
