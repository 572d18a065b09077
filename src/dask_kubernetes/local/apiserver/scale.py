"""The `scale` subresource: an `autoscaling/v1` Scale view of the replica paths a resource
(a Deployment, a ReplicaSet, or a CRD declaring `subresources.scale`) names."""

from __future__ import annotations

import copy
from typing import Any

from dask_kubernetes.local.apimachinery.errors import APIError, conflict
from dask_kubernetes.local.apimachinery.selectors import selector_to_string

from .objects import ObjectAPI
from .patch import apply_patch
from .resources import ResourceType


def _dotted(obj: dict[str, Any], path: str) -> Any:
    current: Any = obj
    for part in path.strip(".").split("."):
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current


def _set_dotted(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    current = obj
    for part in parts[:-1]:
        current = current.setdefault(part, {})
    current[parts[-1]] = value


def get_scale(
    objects: ObjectAPI, resource: ResourceType, namespace: str, name: str
) -> dict[str, Any]:
    if resource.scale is None:
        raise APIError(404, f"{resource.plural} has no scale subresource")
    obj = objects.get(resource, namespace, name)
    meta = obj["metadata"]
    status: dict[str, Any] = {"replicas": _dotted(obj, resource.scale.status_replicas_path) or 0}
    if resource.scale.label_selector_path:
        selector = _dotted(obj, resource.scale.label_selector_path)
        if isinstance(selector, dict):  # a built-in kind's `spec.selector`
            selector = selector_to_string(selector)
        if selector:
            status["selector"] = selector
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": _dotted(obj, resource.scale.spec_replicas_path) or 0},
        "status": status,
    }


def set_scale(
    objects: ObjectAPI, resource: ResourceType, namespace: str, name: str, scale: dict[str, Any]
) -> dict[str, Any]:
    if resource.scale is None:
        raise APIError(404, f"{resource.plural} has no scale subresource")
    current = objects.get(resource, namespace, name)
    wanted = (scale.get("metadata") or {}).get("resourceVersion")
    if wanted and wanted != current["metadata"]["resourceVersion"]:
        raise conflict(resource.group, resource.plural, name)
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        raise APIError(422, "spec.replicas: Invalid value: must be a non-negative integer")
    new = copy.deepcopy(current)
    _set_dotted(new, resource.scale.spec_replicas_path, replicas)
    objects.replace(resource, current, new, "")
    return get_scale(objects, resource, namespace, name)


def patch_scale(
    objects: ObjectAPI,
    resource: ResourceType,
    namespace: str,
    name: str,
    content_type: str,
    body: Any,
) -> dict[str, Any]:
    current = get_scale(objects, resource, namespace, name)
    kind = "application/merge-patch+json" if "strategic" in content_type else content_type
    return set_scale(
        objects, resource, namespace, name, apply_patch(kind, current, body, custom=False)
    )
