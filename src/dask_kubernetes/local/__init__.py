"""A local Kubernetes stand-in: an API server emulator and a process kubelet.

`LocalKubernetes` runs both (and optionally the operator); `dask kubernetes local` is its CLI.
"""

from __future__ import annotations

from dask_kubernetes.local.cluster import LocalKubernetes, LocalKubernetesError

__all__ = ["LocalKubernetes", "LocalKubernetesError"]
