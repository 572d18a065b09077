"""Upstream's import path for the errors `KubeCluster` raises (`dask_kubernetes.exceptions`)."""

from __future__ import annotations

from dask_kubernetes.operator.kubecluster.errors import (
    ClusterExistsError,
    ClusterNotFoundError,
    CrashLoopBackOffError,
    InvalidKubeconfigError,
    KubeClusterError,
    KubernetesForbiddenError,
    KubernetesUnauthorizedError,
    KubernetesUnreachableError,
    NamespaceNotFoundError,
    OperatorNotInstalledError,
    OperatorNotRunningError,
    PodPendingError,
    ResourceTimeoutError,
    SchedulerStartupError,
    ValidationError,
)

__all__ = [
    "ClusterExistsError",
    "ClusterNotFoundError",
    "CrashLoopBackOffError",
    "InvalidKubeconfigError",
    "KubeClusterError",
    "KubernetesForbiddenError",
    "KubernetesUnauthorizedError",
    "KubernetesUnreachableError",
    "NamespaceNotFoundError",
    "OperatorNotInstalledError",
    "OperatorNotRunningError",
    "PodPendingError",
    "ResourceTimeoutError",
    "SchedulerStartupError",
    "ValidationError",
]
