"""Dask on Kubernetes: an operator, the KubeCluster API, and a local Kubernetes stand-in."""

from __future__ import annotations

from typing import Any

from . import config
from ._version import __version__
from ._version import __version_tuple__ as __version_tuple__

__all__ = ["HelmCluster", "KubeCluster", "__version__", "config", "make_cluster_spec"]


def __getattr__(name: str) -> Any:
    """`from dask_kubernetes import KubeCluster` (or HelmCluster), imported on first use."""
    if name in ("KubeCluster", "make_cluster_spec"):
        from dask_kubernetes import operator

        return getattr(operator, name)
    if name == "HelmCluster":
        from dask_kubernetes.helm import HelmCluster

        return HelmCluster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
