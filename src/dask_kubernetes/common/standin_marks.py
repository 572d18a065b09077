"""How a kubeconfig written by the local stand-in (`dask kubernetes local`) is recognised.

Defined here, not in `dask_kubernetes.local`, so `KubeCluster` can name the stand-in in its error
messages without importing the stand-in itself.
"""

from __future__ import annotations

#: The cluster, user and context name the stand-in writes into a kubeconfig.
CONTEXT_NAME = "dask-kubernetes-local"
#: The stand-in's default state directory (which holds its kubeconfig) starts with this.
STATE_DIR_PREFIX = "dask-k8s-local-"
