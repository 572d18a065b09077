"""The client side of a cluster's mutual TLS: turn it on, and fetch the client certificate.

A DaskCluster with `spec.tls` accepts only connections that present a certificate from its own
CA (see `operator/dask_tls.py`). `KubeCluster` turns it on for the clusters it creates, and for
any cluster it creates or connects to reads the client certificate from the cluster's Secret
through the API, so `Client(cluster)` connects over `tls://` with nothing for the user to do.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import time
from collections.abc import Mapping
from typing import Any

import kr8s
from distributed.security import Security
from kr8s.asyncio.objects import Secret

from dask_kubernetes.operator import dask_tls
from dask_kubernetes.operator import vocabulary as v

from .errors import KubeClusterError, ResourceTimeoutError
from .kr8s_api import Api, kubernetes_errors

SECRET_POLL_INTERVAL = 0.2


def with_tls_on(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A DaskCluster manifest with `spec.tls` true unless it says otherwise."""
    result = copy.deepcopy(dict(manifest))
    result.setdefault("spec", {}).setdefault(v.TLS_FIELD, True)
    return result


def _owned_by(secret: Mapping[str, Any], uid: str) -> bool:
    refs = (secret.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


async def cluster_security(api: Api, cluster: Mapping[str, Any], timeout: float) -> Security | None:
    """The `Security` that connects to this DaskCluster (its raw dict), or None without TLS.

    The Secret is made by the operator before the scheduler Pod, so it is usually there; it is
    awaited for up to `timeout` seconds in case this process is quicker. A Secret of that name
    not owned by this cluster is refused (someone else's credentials would be trusted).
    """
    if not dask_tls.tls_enabled(cluster.get("spec")):
        return None
    meta = cluster["metadata"]
    name = v.tls_secret_name(meta["name"], meta["uid"])
    deadline = time.monotonic() + timeout
    while True:
        with kubernetes_errors(namespace=meta["namespace"]):
            try:
                secret = await Secret.get(name, namespace=meta["namespace"], api=api)
                break
            except kr8s.NotFoundError:
                if time.monotonic() > deadline:
                    raise ResourceTimeoutError(
                        f"The TLS Secret {name} of DaskCluster {meta['name']} did not appear "
                        f"within {timeout:g} s (is the operator running?)"
                    ) from None
        await asyncio.sleep(SECRET_POLL_INTERVAL)
    if not _owned_by(secret.raw, meta["uid"]):
        raise KubeClusterError(
            f"Secret {name} is not owned by DaskCluster {meta['name']}: refusing its certificates"
        )
    data = {key: base64.b64decode(value).decode() for key, value in secret.raw["data"].items()}
    return Security(  # type: ignore[no-untyped-call]
        require_encryption=True, **dask_tls.client_settings(data)
    )


def connection_args(security: Security | None) -> dict[str, Any]:
    """`rpc(..., connection_args=...)` for a client of a cluster with this security."""
    if security is None:
        return {}
    return dict(security.get_connection_args("client"))  # type: ignore[no-untyped-call]
