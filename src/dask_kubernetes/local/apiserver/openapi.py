"""A minimal OpenAPI v3 index: enough for kubectl to see that the server validates fields
itself (`fieldValidation` among the PATCH operation's parameters — kubectl looks there, not at
path-level parameters), so it skips client-side validation and needs no full schemas.

Custom resources also carry their CRD's schema under `components.schemas`, tagged with the
`x-kubernetes-group-version-kind` list a real API server puts there: `kubectl explain` finds a
kind's schema by that tag alone, and fails without it."""

from __future__ import annotations

from typing import Any

from .resources import ResourceRegistry, ResourceType

_PARAMETERS = [
    {"name": name, "in": "query", "schema": {"type": "string"}}
    for name in ("fieldValidation", "dryRun", "fieldManager")
]


V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (payloads here stay under 128 bytes)."""
    return bytes([number << 3 | 2, len(payload)]) + payload


def v2_document() -> bytes:
    """An OpenAPI v2 document with no models, protobuf-encoded (gnostic `Document`): kubectl
    falls back to it for client-side validation, and finding no model it leaves validation
    to the server, which does it for custom resources."""
    info = _field(1, b"Kubernetes") + _field(2, b"v1.32.0")
    return _field(1, b"2.0") + _field(2, info)


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def index(registry: ResourceRegistry) -> dict[str, Any]:
    paths = {}
    for group, versions in registry.groups().items():
        for version in versions:
            path = _gv_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}"}
    return {"paths": paths}


def _object_path(resource: ResourceType) -> str:
    prefix = f"/{_gv_path(resource.group, resource.version)}"
    scope = "/namespaces/{namespace}" if resource.namespaced else ""
    return f"{prefix}{scope}/{resource.plural}/{{name}}"


def group_version(registry: ResourceRegistry, group: str, version: str) -> dict[str, Any] | None:
    resources = registry.in_group_version(group, version)
    if not resources:
        return None
    paths = {
        _object_path(r): {
            "patch": {
                "parameters": _PARAMETERS,
                "x-kubernetes-group-version-kind": {
                    "group": r.group,
                    "version": r.version,
                    "kind": r.kind,
                },
                "responses": {"200": {"description": "OK"}},
            },
        }
        for r in resources
    }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": dict(_schema_entry(r) for r in resources if r.schema)},
    }


def _schema_entry(resource: ResourceType) -> tuple[str, dict[str, Any]]:
    """The definition name a real server uses (reversed group, version, kind) and the schema."""
    reversed_group = ".".join(reversed(resource.group.split(".")))
    name = f"{reversed_group}.{resource.version}.{resource.kind}"
    gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
    return name, {**(resource.schema or {}), "x-kubernetes-group-version-kind": [gvk]}
