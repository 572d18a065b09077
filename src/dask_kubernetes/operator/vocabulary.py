"""The words the operator and KubeCluster share: API group, kinds, labels, ports, names.

Both sides must spell them alike or they stop finding each other's objects (a KubeCluster
waits on a label the controller never sets), so they are spelled here only; a test keeps
every other module in src/ from typing them out again. Upstream's public numbers stay in
`dask_kubernetes.constants`; the rules built on them are here.

Names also go into API paths, scheduler URLs, label values and DNS names, where anything but a
DNS-1123 name could steer a request elsewhere (`../`, `%2F`, `host:port/`), so every such name
is checked against these rules before anything is built from it; the CRD schemas carry the same
rules as `pattern`/`maxLength` (a test keeps them equal).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeGuard

from dask_kubernetes.constants import (
    KUBERNETES_MAX_RESOURCE_NAME_LENGTH,
    MAX_CLUSTER_NAME_LEN,
    SCHEDULER_NAME_TEMPLATE,
)

# --- The API --------------------------------------------------------------------------------

GROUP = "kubernetes.dask.org"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"


@dataclass(frozen=True)
class DaskResource:
    """One of the operator's custom resources, as kubectl, kopf and the REST paths name it."""

    kind: str
    plural: str

    @property
    def fqn(self) -> str:
        """`plural.group`: what kopf handlers and `kubectl get` take."""
        return f"{self.plural}.{GROUP}"


DASK_CLUSTER = DaskResource("DaskCluster", "daskclusters")
DASK_WORKER_GROUP = DaskResource("DaskWorkerGroup", "daskworkergroups")
DASK_JOB = DaskResource("DaskJob", "daskjobs")
DASK_AUTOSCALER = DaskResource("DaskAutoscaler", "daskautoscalers")
DASK_RESOURCES = (DASK_CLUSTER, DASK_WORKER_GROUP, DASK_JOB, DASK_AUTOSCALER)

#: The autoscaler's "do not scale again before" time (Unix seconds), on the DaskAutoscaler.
COOLDOWN_ANNOTATION = f"{GROUP}/cooldown-until"

# --- Labels ---------------------------------------------------------------------------------

CLUSTER_LABEL = "dask.org/cluster-name"
COMPONENT_LABEL = "dask.org/component"
WORKERGROUP_LABEL = "dask.org/workergroup-name"

#: Values of `COMPONENT_LABEL`.
SCHEDULER = "scheduler"
WORKER = "worker"
WORKER_GROUP = "workergroup"
JOB_RUNNER = "job-runner"
AUTOSCALER = "autoscaler"


def cluster_labels(cluster: str, component: str | None = None) -> dict[str, str]:
    labels = {CLUSTER_LABEL: cluster}
    if component is not None:
        labels[COMPONENT_LABEL] = component
    return labels


def scheduler_labels(cluster: str) -> dict[str, str]:
    return cluster_labels(cluster, SCHEDULER)


def worker_labels(cluster: str, worker_group: str) -> dict[str, str]:
    return cluster_labels(cluster, WORKER) | {WORKERGROUP_LABEL: worker_group}


def label_selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


# --- Ports ----------------------------------------------------------------------------------

SCHEDULER_PORT = 8786
SCHEDULER_PORT_NAME = "tcp-comm"
DASHBOARD_PORT = 8787
DASHBOARD_PORT_NAME = "http-dashboard"
WORKER_DASHBOARD_PORT = 8788

# --- Mutual TLS of a cluster's Dask traffic (see `operator/dask_tls.py`) ----------------------

#: `spec.tls` of a DaskCluster: true for mutually authenticated TLS on every Dask connection.
TLS_FIELD = "tls"
#: The keys of the cluster's TLS Secret: the CA certificate, a certificate and key per role,
#: and the token the scheduler's HTTP API asks of the operator.
TLS_CA_KEY = "ca.crt"
TLS_ROLES = ("scheduler", "worker", "client")
TLS_API_TOKEN_KEY = "api-token"  # noqa: S105 (a key name)


def tls_cert_key(role: str) -> str:
    return f"{role}.crt"


def tls_private_key_key(role: str) -> str:
    return f"{role}.key"


#: The header that carries that token (the API server's proxy drops `Authorization`).
SCHEDULER_API_TOKEN_HEADER = "X-Dask-Kubernetes-Token"  # noqa: S105 (a name)

# --- Kubernetes name rules (RFC 1123) -------------------------------------------------------

#: RFC 1123 label (a Namespace, a Service, a label value that names an object).
DNS1123_LABEL_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_LABEL_MAX_LENGTH = KUBERNETES_MAX_RESOURCE_NAME_LENGTH
#: RFC 1123 subdomain (most object names): dot-separated labels.
DNS1123_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS1123_SUBDOMAIN_MAX_LENGTH = 253

#: A cluster's name is at most `MAX_CLUSTER_NAME_LEN` long (upstream's public constant): the
#: longest name derived from it is its scheduler Service's, `<cluster>-scheduler`.
#: A worker group's name is a label value on its Pods.
MAX_WORKER_GROUP_NAME_LENGTH = DNS1123_LABEL_MAX_LENGTH

# Go's RE2 (the API server's) `$` matches only at the very end; Python's `$` also before a
# trailing newline, so match whole strings with `fullmatch` on the pattern without anchors.
_LABEL = re.compile(DNS1123_LABEL_PATTERN[1:-1])
_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN_PATTERN[1:-1])


class InvalidName(ValueError):
    """A name that is not a valid Kubernetes name of the kind required where it is used."""


def is_label(name: object, max_length: int = DNS1123_LABEL_MAX_LENGTH) -> TypeGuard[str]:
    return isinstance(name, str) and len(name) <= max_length and bool(_LABEL.fullmatch(name))


def is_subdomain(name: object) -> TypeGuard[str]:
    return (
        isinstance(name, str)
        and len(name) <= DNS1123_SUBDOMAIN_MAX_LENGTH
        and bool(_SUBDOMAIN.fullmatch(name))
    )


def is_cluster_name(name: object) -> TypeGuard[str]:
    return is_label(name, MAX_CLUSTER_NAME_LEN)


def check_label(name: object, what: str, max_length: int = DNS1123_LABEL_MAX_LENGTH) -> str:
    """`name` when it is a lowercase RFC 1123 label of at most `max_length` characters."""
    if not is_label(name, max_length):
        raise InvalidName(
            f"{what} {name!r} must be a lowercase RFC 1123 label of at most {max_length} "
            "characters (a-z, 0-9 and '-', starting and ending with a letter or digit)"
        )
    return name


def check_subdomain(name: object, what: str) -> str:
    """`name` when it is a lowercase RFC 1123 subdomain (an object name)."""
    if not is_subdomain(name):
        raise InvalidName(
            f"{what} {name!r} must be a lowercase RFC 1123 subdomain of at most "
            f"{DNS1123_SUBDOMAIN_MAX_LENGTH} characters"
        )
    return name


def check_cluster_name(name: object, what: str = "DaskCluster name") -> str:
    """A DaskCluster's name, or a reference to one: its scheduler Service name must fit too."""
    return check_label(name, what, MAX_CLUSTER_NAME_LEN)


def check_worker_group_name(name: object, what: str = "DaskWorkerGroup name") -> str:
    return check_label(name, what, MAX_WORKER_GROUP_NAME_LENGTH)


# --- Names of what a resource owns ----------------------------------------------------------


def scheduler_name(cluster: str) -> str:
    """The scheduler Pod and Service of a cluster."""
    return SCHEDULER_NAME_TEMPLATE.format(cluster_name=cluster)


def worker_group_name(cluster: str, group: str) -> str:
    """A worker group of a cluster, as KubeCluster and upstream name it: `<cluster>-<group>`."""
    return f"{cluster}-{group}"


def default_worker_group_name(cluster: str) -> str:
    return worker_group_name(cluster, "default")


def job_runner_name(job: str) -> str:
    return f"{job}-runner"


def _worker_prefix(worker_group: str) -> str:
    return f"{worker_group}-worker-"


def worker_pod_name(worker_group: str, index: int) -> str:
    return f"{_worker_prefix(worker_group)}{index}"


def worker_index(worker_group: str, pod_name: str) -> int | None:
    """`index` of a `worker_pod_name(worker_group, index)`, or None for another name."""
    prefix = _worker_prefix(worker_group)
    suffix = pod_name.removeprefix(prefix)
    return int(suffix) if pod_name.startswith(prefix) and suffix.isdigit() else None


def tls_secret_name(cluster: str, uid: str) -> str:
    """The Secret with a cluster's CA, certificates and API token.

    Named after this incarnation of the cluster (its uid): a cluster created again under the same
    name never finds the Secret of the one before it, which the garbage collector may not have
    removed yet.
    """
    return f"{cluster}-tls-{uid}"


def scheduler_host(cluster: str, namespace: str) -> str:
    """The scheduler Service's cluster DNS name."""
    return f"{scheduler_name(cluster)}.{namespace}.svc.cluster.local"


def comm_scheme(tls: bool) -> str:
    return "tls" if tls else "tcp"


def scheduler_address(cluster: str, namespace: str, tls: bool = False) -> str:
    """The scheduler's comm address from inside the cluster."""
    return f"{comm_scheme(tls)}://{scheduler_host(cluster, namespace)}:{SCHEDULER_PORT}"
