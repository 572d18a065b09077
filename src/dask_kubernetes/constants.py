"""Naming limits at upstream's import path; the rules that use them live in operator/vocabulary.py.

Upstream dask-kubernetes exposes these as `dask_kubernetes.constants`; user code checks cluster
names against them before calling `KubeCluster`, so the numbers live here, once.
"""

from __future__ import annotations

import re

KUBECLUSTER_CONTAINER_NAME = "dask-container"
KUBERNETES_MAX_RESOURCE_NAME_LENGTH = 63
# The longest object the operator derives from a cluster name is `<name>-scheduler`.
SCHEDULER_NAME_TEMPLATE = "{cluster_name}-scheduler"
MAX_CLUSTER_NAME_LEN = KUBERNETES_MAX_RESOURCE_NAME_LENGTH - len(
    SCHEDULER_NAME_TEMPLATE.format(cluster_name="")
)
# A DNS-1123 label no longer than MAX_CLUSTER_NAME_LEN, as upstream spells it. Python's `$` also
# matches before a trailing newline: use `VALID_CLUSTER_NAME.fullmatch`, or the checks in
# `dask_kubernetes.operator.vocabulary`, which the operator and KubeCluster use.
VALID_CLUSTER_NAME = re.compile(
    rf"^(?=.{{,{MAX_CLUSTER_NAME_LEN}}}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
)

__all__ = [
    "KUBECLUSTER_CONTAINER_NAME",
    "KUBERNETES_MAX_RESOURCE_NAME_LENGTH",
    "MAX_CLUSTER_NAME_LEN",
    "SCHEDULER_NAME_TEMPLATE",
    "VALID_CLUSTER_NAME",
]
