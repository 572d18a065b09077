"""The Dask operator: CRDs, a kopf controller and their manifests.

Kept light to import: the controller (and kopf) load only when the operator runs, and the
KubeCluster API is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_KUBECLUSTER_NAMES = frozenset(
    {"KubeCluster", "make_cluster_spec", "make_worker_spec", "make_scheduler_spec"}
)

__all__ = sorted(_KUBECLUSTER_NAMES)


def __getattr__(name: str) -> Any:
    if name in _KUBECLUSTER_NAMES:
        module = importlib.import_module("dask_kubernetes.operator.kubecluster")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
