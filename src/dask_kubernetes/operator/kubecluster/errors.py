"""One exception per thing that can go wrong, worded for the person running `KubeCluster`.

Each also subclasses the builtin upstream raised in the same case (ValueError, TimeoutError,
RuntimeError), so code written against upstream dask-kubernetes keeps catching them.
"""

from __future__ import annotations

OPERATOR_DOCS = "https://kubernetes.dask.org/en/latest/operator_installation.html"


class KubeClusterError(Exception):
    """Base class: catch this to handle every KubeCluster failure."""


class ValidationError(KubeClusterError, ValueError):
    """An argument (cluster name, resources, create mode) is not acceptable."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OperatorNotInstalledError(KubeClusterError, RuntimeError):
    """The DaskCluster custom resource definitions are missing from the cluster."""

    def __init__(self) -> None:
        super().__init__(
            "The Dask operator is not installed in this Kubernetes cluster "
            f"(no DaskCluster resource type). See {OPERATOR_DOCS}"
        )


class OperatorNotRunningError(KubeClusterError, TimeoutError):
    """The DaskCluster was created but nothing acted on it."""

    def __init__(self, name: str, timeout: float) -> None:
        super().__init__(
            f"Dask Cluster resource {name!r} not actioned after {timeout:g} seconds, "
            "is the Dask Operator running?"
        )


class KubernetesUnreachableError(KubeClusterError, ConnectionError):
    """No Kubernetes API server answered (no kubeconfig, wrong address, network down)."""


class InvalidKubeconfigError(KubernetesUnreachableError):
    """The kubeconfig cannot be used: the file KUBECONFIG names is missing, or is not YAML.

    A subclass of `KubernetesUnreachableError`, which a missing kubeconfig raised before.
    """


class KubernetesForbiddenError(KubeClusterError, PermissionError):
    """The API server refused the request for lack of credentials or RBAC permissions."""


class KubernetesUnauthorizedError(KubernetesForbiddenError):
    """401: the API server did not accept the credentials (a wrong or expired token/certificate).

    Distinct from a 403 (known user, no permission); a subclass of `KubernetesForbiddenError`,
    which a 401 raised before, so code catching that still catches it.
    """


class NamespaceNotFoundError(KubeClusterError, ValueError):
    """The namespace asked for does not exist."""


class ClusterExistsError(KubeClusterError, ValueError):
    """`create_mode=CREATE_ONLY` but a DaskCluster of that name already exists."""


class ClusterNotFoundError(KubeClusterError, ValueError):
    """`create_mode=CONNECT_ONLY` (or `from_name`) but no DaskCluster has that name."""


class PodPendingError(KubeClusterError, TimeoutError):
    """A pod stayed Pending for a reason that will not fix itself (unschedulable, bad image)."""


class CrashLoopBackOffError(KubeClusterError, RuntimeError):
    """A container keeps crashing (upstream's name; KubeCluster raises the subclass below)."""


class SchedulerStartupError(CrashLoopBackOffError):
    """The scheduler container keeps failing; the message carries its logs."""


class ResourceTimeoutError(KubeClusterError, TimeoutError):
    """A Kubernetes resource did not reach the expected state in `resource_timeout`."""


class DeletionUnderWay(ResourceTimeoutError):
    """The wait ran out but the deletion is the API server's now: the object is marked deleted
    and only the garbage collector's `foregroundDeletion` holds it (its pods are still stopping).
    It goes without anything more from anyone, so this is not a failure to delete."""
