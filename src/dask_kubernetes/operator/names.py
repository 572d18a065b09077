"""Kubernetes name rules (RFC 1123), in one place, for everything the operator puts in a path.

A name from a custom resource ends up in API paths, scheduler URLs, label values and DNS names.
Anything but a DNS-1123 name there can steer a request elsewhere (`../`, `%2F`, `host:port/`),
so the operator checks every such name against these rules before it builds anything from it;
the CRD schemas carry the same rules as `pattern`/`maxLength` (a test keeps them equal).
"""

from __future__ import annotations

import re
from typing import TypeGuard

from dask_kubernetes.constants import (
    KUBERNETES_MAX_RESOURCE_NAME_LENGTH,
    MAX_CLUSTER_NAME_LEN,
    SCHEDULER_NAME_TEMPLATE,
)

#: RFC 1123 label (a Namespace, a Service, a label value that names an object).
DNS1123_LABEL_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_LABEL_MAX_LENGTH = KUBERNETES_MAX_RESOURCE_NAME_LENGTH
#: RFC 1123 subdomain (most object names): dot-separated labels.
DNS1123_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS1123_SUBDOMAIN_MAX_LENGTH = 253

#: The longest name derived from a cluster's is its scheduler Service, `<cluster>-scheduler`
#: (upstream's public constants, `dask_kubernetes.constants`, hold the numbers).
SCHEDULER_SUFFIX = SCHEDULER_NAME_TEMPLATE.format(cluster_name="")
MAX_CLUSTER_NAME_LENGTH = MAX_CLUSTER_NAME_LEN
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
    return check_label(name, what, MAX_CLUSTER_NAME_LENGTH)


def check_worker_group_name(name: object, what: str = "DaskWorkerGroup name") -> str:
    return check_label(name, what, MAX_WORKER_GROUP_NAME_LENGTH)
