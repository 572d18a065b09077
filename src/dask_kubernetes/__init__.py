"""Dask on Kubernetes: an operator, the KubeCluster API, and a local Kubernetes stand-in."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from . import config

try:
    __version__ = version("dask-kubernetes")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"

# Upstream's (setuptools-scm) shape: "2026.3.1.dev4+gabc" -> (2026, 3, 1, "dev4", "gabc").
__version_tuple__: tuple[int | str, ...] = tuple(
    int(part) if part.isdigit() else part for part in __version__.replace("+", ".").split(".")
)

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
