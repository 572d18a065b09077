"""The process kubelet half of the local Kubernetes stand-in (see docs/design/local-standin.md)."""

from __future__ import annotations

from dask_kubernetes.local.kubelet.kubelet import NODE_NAME, Kubelet

__all__ = ["NODE_NAME", "Kubelet"]
