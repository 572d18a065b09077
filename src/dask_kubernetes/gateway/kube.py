"""The gateway's Kubernetes client: the operator's checked REST verbs plus a list-then-watch cache.

The backend learns what its clusters are doing by watching the DaskClusters and their scheduler
Pods (one stream each, label-selected to this gateway instance) instead of polling: a change
reaches every gateway replica within a round trip, and an idle gateway costs the API server
one open watch per resource. The verbs are `operator.rest.Kube`'s (checked paths, 404/409
tolerated); the watch streams through the same kr8s session, so credentials (in-cluster
ServiceAccount or KUBECONFIG) are found exactly as the operator finds them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import kr8s.asyncio

from dask_kubernetes.common.informer import Handler
from dask_kubernetes.common.informer import Informer as ListWatchCache
from dask_kubernetes.operator.rest import Kube

logger = logging.getLogger(__name__)

#: The server ends each watch after this long; it is then resumed from the last version seen.
WATCH_TIMEOUT_SECONDS = 240


class GatewayKube(Kube):
    """`Kube` plus `watch` on the same kr8s session."""

    def __init__(self, api: kr8s.asyncio.Api) -> None:
        super().__init__(api)
        self.kr8s = api

    @classmethod
    async def connect(cls) -> GatewayKube:
        base = await Kube.connect()
        return cls(base._api)

    async def create_object(self, path: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Create; return the object as stored (its uid is needed for ownerReferences)."""
        _, body = await self._request("POST", path, content=json.dumps(manifest))
        return dict(body)

    async def list_objects(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        _, body = await self._request("GET", path, params=dict(params))
        return dict(body)

    async def watch(
        self, path: str, resource_version: str, params: Mapping[str, str]
    ) -> AsyncIterator[dict[str, Any]]:
        """The watch events on `path` after `resource_version`, one dict each."""
        base, _, rest = path.lstrip("/").partition("/")
        query = dict(params) | {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(WATCH_TIMEOUT_SECONDS),
        }
        async with self.kr8s.call_api(
            "GET",
            version="",
            base=f"/{base}",
            url=rest,
            params=query,
            stream=True,
            timeout=WATCH_TIMEOUT_SECONDS + 30,
        ) as response:
            async for line in response.aiter_lines():
                if line.strip():
                    yield json.loads(line)


def object_name(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"]["name"])


class Informer(ListWatchCache):
    """A list-then-watch cache (`common.informer`) of one namespace's objects, by name, over
    `GatewayKube`. Any failure of kr8s's session (timeouts, resets, API errors) lists again
    after a pause: the backend must converge, whatever the transport said."""

    retry_on = (Exception,)
    retry_pause = 0.5

    def __init__(
        self, kube: GatewayKube, path: str, params: Mapping[str, str], handler: Handler
    ) -> None:
        super().__init__(kube, path, handler, params=params, key=object_name)
