"""The words the gateway writes onto Kubernetes objects and reads back: labels, annotations, keys.

The gateway keeps no database: a restarted gateway (or a second replica) rebuilds every cluster
from these, so writer and reader must spell them alike. The user name is any string a
authenticator hands over (an e-mail, a Kerberos principal), which labels and names cannot hold,
so it goes into an annotation; labels carry only the gateway instance, a DNS-safe value.
"""

from __future__ import annotations

import secrets

from dask_kubernetes.operator import vocabulary as v

PREFIX = "gateway.dask.org"
INSTANCE_LABEL = f"{PREFIX}/instance"
USER_ANNOTATION = f"{PREFIX}/user"
#: The options the user chose (JSON), shown back by `list_clusters`.
OPTIONS_ANNOTATION = f"{PREFIX}/options"
#: The cluster's resolved `OperatorClusterConfig` (JSON): limits and sizes, counted for quotas.
CONFIG_ANNOTATION = f"{PREFIX}/config"

#: Key of the gateway's API token in the cluster's gateway Secret.
TOKEN_KEY = "api-token"  # noqa: S105 (a key name)
#: The port of dask-gateway's scheduler-side API (scale/adapt), next to the dashboard's.
GATEWAY_API_PORT = 8789
GATEWAY_API_PORT_NAME = "http-gateway"

CLUSTER_NAME_PREFIX = "dg-"


def new_cluster_name() -> str:
    """A fresh, unguessable DaskCluster name (also the gateway's cluster name and SNI)."""
    return v.check_cluster_name(CLUSTER_NAME_PREFIX + secrets.token_hex(10))


def is_cluster_name(name: object) -> bool:
    return isinstance(name, str) and name.startswith(CLUSTER_NAME_PREFIX) and v.is_label(name)


def gateway_secret_name(cluster: str) -> str:
    """The Secret with the gateway's token for `cluster` (owned by the DaskCluster)."""
    return f"{cluster}-gateway"
