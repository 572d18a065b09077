"""`HelmCluster`: drive a Dask cluster installed with the dask/dask Helm chart from Python.

Imported lazily from `dask_kubernetes` so the operator and the stand-in never load it.
"""

from __future__ import annotations

from .discovery import discover
from .helmcluster import HelmCluster
from .release import HelmReleaseError, ReleaseNotFoundError, SchedulerUnreachableError

__all__ = [
    "HelmCluster",
    "HelmReleaseError",
    "ReleaseNotFoundError",
    "SchedulerUnreachableError",
    "discover",
]
