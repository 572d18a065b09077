"""The controller's Kubernetes client: raw, checked REST paths on kr8s's authenticated session.

Raw paths rather than kr8s objects: each operation is exactly one request (no discovery round
trips), which keeps the API-call budget predictable and the RBAC rules easy to derive, and
failures stay `ApiError`s for the controller to retry. KubeCluster has its own client
(`kubecluster/kr8s_api.py`): kr8s objects (scale, port-forward, logs) whose failures become
one worded `KubeClusterError` each for a person at a prompt. Different callers, different
failure contracts, hence two.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import kr8s.asyncio

from dask_kubernetes._version import __version__
from dask_kubernetes.operator.vocabulary import (
    API_VERSION,
    DASK_RESOURCES,
    InvalidName,
    check_label,
    check_subdomain,
)

#: Marks the operator's own requests in API server audit logs (the RBAC test keys on it).
USER_AGENT = f"dask-kubernetes-operator/{__version__}"

_MERGE_PATCH = {"content-type": "application/merge-patch+json"}


class ApiError(Exception):
    """A Kubernetes API request failed in a way the caller did not expect."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Kubernetes API returned {status}: {message}")
        self.status = status


def _decode(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


#: Plurals and subresources the operator addresses; nothing else can end up in a path.
_DASK_PLURALS = frozenset(resource.plural for resource in DASK_RESOURCES)
_PLURALS = frozenset({"pods", "services", "secrets"}) | _DASK_PLURALS
_SUBRESOURCES = frozenset({"", "status"})


def resource_path(namespace: str, plural: str, name: str = "", subresource: str = "") -> str:
    """REST path of a namespaced core (`pods`) or Dask (`daskclusters`) resource.

    Every part is checked (a namespace is an RFC 1123 label, a name a subdomain) and quoted, so
    no value from a custom resource can climb out of its namespace (`..`, `/`, `%2F`).
    """
    if plural not in _PLURALS or subresource not in _SUBRESOURCES:
        raise InvalidName(f"the operator does not address {plural}/{subresource}")
    if subresource and not name:
        raise InvalidName(f"subresource {subresource!r} needs an object name")
    base = f"/apis/{API_VERSION}" if plural in _DASK_PLURALS else "/api/v1"
    parts = [check_label(namespace, "namespace"), plural]
    if name:
        parts.append(check_subdomain(name, f"{plural} name"))
    if subresource:
        parts.append(subresource)
    return "/".join([base, "namespaces", *(quote(part, safe="") for part in parts)])


class Kube:
    """A few idempotent verbs: create tolerates 409, delete tolerates 404."""

    def __init__(self, api: kr8s.asyncio.Api) -> None:
        self._api = api

    @classmethod
    async def connect(cls) -> Kube:
        api = await kr8s.asyncio.api()
        # kr8s builds its session lazily; build it now so the user agent can be set once.
        await api._create_session()
        assert api._session is not None
        api._session.headers["User-Agent"] = USER_AGENT
        return cls(api)

    async def _request(
        self, method: str, path: str, *, ok: tuple[int, ...] = (), **kwargs: Any
    ) -> tuple[int, Any]:
        base, _, rest = path.lstrip("/").partition("/")
        async with self._api.call_api(
            method, version="", base=f"/{base}", url=rest, raise_for_status=False, **kwargs
        ) as response:
            status = response.status_code
            body = _decode(response.content)
        if status >= 400 and status not in ok:
            message = body.get("message", "") if isinstance(body, dict) else str(body)
            raise ApiError(status, message)
        return status, body

    async def get(self, path: str) -> dict[str, Any] | None:
        status, body = await self._request("GET", path, ok=(404,))
        return None if status == 404 else dict(body)

    async def list(self, path: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
        _, body = await self._request("GET", path, params={"labelSelector": selector})
        return list(body.get("items") or [])

    async def create(self, path: str, manifest: Mapping[str, Any]) -> bool:
        """True when created, False when it already existed."""
        status, _ = await self._request("POST", path, ok=(409,), content=json.dumps(manifest))
        return status != 409

    async def delete(self, path: str, *, propagation: str | None = None) -> bool:
        """True when deletion started, False when it was already gone.

        `propagation="Foreground"` keeps the object, marked for deletion, until the garbage
        collector has removed its dependents.
        """
        options = {"propagationPolicy": propagation} if propagation else None
        content = None if options is None else json.dumps(options)
        status, _ = await self._request("DELETE", path, ok=(404,), content=content)
        return status != 404

    async def patch(self, path: str, patch: Mapping[str, Any]) -> dict[str, Any] | None:
        status, body = await self._request(
            "PATCH", path, ok=(404,), content=json.dumps(patch), headers=_MERGE_PATCH
        )
        return None if status == 404 else dict(body)

    async def proxy(
        self,
        method: str,
        namespace: str,
        service: str,
        port: str,
        path: str,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Call a Service's HTTP port through the API server's `services/proxy`.

        The Service is named by checked labels, in `namespace` only; `path` is the operator's own
        (a constant of the scheduler's API), never a value from a resource.
        """
        target = ":".join(
            quote(check_label(part, what), safe="")
            for part, what in ((service, "service name"), (port, "port name"))
        )
        url = (
            f"/api/v1/namespaces/{quote(check_label(namespace, 'namespace'), safe='')}"
            f"/services/{target}/proxy/{path.lstrip('/')}"
        )
        content = None if payload is None else json.dumps(payload)
        _, body = await self._request(method, url, content=content, headers=dict(headers or {}))
        return body
