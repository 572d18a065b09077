"""Non-resource endpoints: version, discovery, OpenAPI stubs and health checks."""

from __future__ import annotations

from typing import Any

from dask_kubernetes.local.apimachinery.errors import APIError

from . import discovery, openapi
from .resources import ResourceRegistry

HEALTH_PATHS = ("/healthz", "/livez", "/readyz")


def _not_found() -> APIError:
    return APIError(404, "the server could not find the requested resource")


def answer(path: str, registry: ResourceRegistry) -> dict[str, Any] | str:
    """The JSON body (or plain text for health) a GET of `path` returns."""
    path = path.rstrip("/") or "/"
    if path in HEALTH_PATHS or path.startswith(tuple(f"{p}/" for p in HEALTH_PATHS)):
        return "ok"
    if path == "/version":
        return discovery.VERSION_INFO
    if path == "/api":
        return discovery.api_versions()
    if path == "/apis":
        return discovery.api_group_list(registry)
    if path == "/openapi/v3":
        return openapi.index(registry)
    parts = [p for p in path.split("/") if p]
    found: dict[str, Any] | None = None
    if parts[:2] == ["openapi", "v3"]:
        rest = parts[2:]
        if len(rest) == 2 and rest[0] == "api":
            found = openapi.group_version(registry, "", rest[1])
        elif len(rest) == 3 and rest[0] == "apis":
            found = openapi.group_version(registry, rest[1], rest[2])
    if len(parts) == 2 and parts[0] == "api":
        found = discovery.api_resource_list(registry, "", parts[1])
    elif len(parts) == 2 and parts[0] == "apis":
        found = discovery.api_group(registry, parts[1])
    elif len(parts) == 3 and parts[0] == "apis":
        found = discovery.api_resource_list(registry, parts[1], parts[2])
    if found is None:
        raise _not_found()
    return found
