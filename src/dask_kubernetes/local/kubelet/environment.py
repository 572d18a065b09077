"""A container's environment: `env`, `envFrom` and the downward API, expanded like the kubelet does.

ConfigMaps and Secrets are fetched by the caller first (see `referenced_sources`) so that building
the environment stays a pure function that tests can call directly.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dask_kubernetes.local.kubelet.expansion import expand

Source = tuple[str, str]  # ("configmaps" | "secrets", name)


class MissingEnvSourceError(Exception):
    """A required ConfigMap/Secret key is missing: the container cannot start."""


@dataclass
class SourceData:
    """ConfigMaps and Secrets of the pod's namespace, by (kind, name); missing ones are absent."""

    objects: dict[Source, dict[str, Any]] = field(default_factory=dict)

    def values(self, source: Source) -> dict[str, str] | None:
        obj = self.objects.get(source)
        if obj is None:
            return None
        if source[0] == "secrets":
            return {
                k: base64.b64decode(v).decode("utf-8", "replace")
                for k, v in (obj.get("data") or {}).items()
            } | dict(obj.get("stringData") or {})
        return dict(obj.get("data") or {})


def source_references(container: Mapping[str, Any]) -> list[tuple[str, Source]]:
    """(field path within the container, source) of each ConfigMap and Secret its env names;
    `admission` checks the names before any of them is fetched."""
    found: list[tuple[str, Source]] = []
    for index, item in enumerate(container.get("envFrom") or []):
        for key, kind in (("configMapRef", "configmaps"), ("secretRef", "secrets")):
            if key in item:
                found.append((f"envFrom[{index}].{key}.name", (kind, item[key].get("name"))))
    for index, var in enumerate(container.get("env") or []):
        ref = var.get("valueFrom") or {}
        for key, kind in (("configMapKeyRef", "configmaps"), ("secretKeyRef", "secrets")):
            if key in ref:
                found.append((f"env[{index}].valueFrom.{key}.name", (kind, ref[key].get("name"))))
    return found


def referenced_sources(container: Mapping[str, Any]) -> set[Source]:
    """ConfigMaps and Secrets a container's env refers to."""
    return {source for _field, source in source_references(container)}


def _field_value(pod: Mapping[str, Any], path: str) -> str:
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    for prefix, mapping in (
        ("metadata.labels", metadata.get("labels")),
        ("metadata.annotations", metadata.get("annotations")),
    ):
        if path.startswith(prefix + "['") and path.endswith("']"):
            return str((mapping or {}).get(path[len(prefix) + 2 : -2], ""))
    simple = {
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        "metadata.uid": metadata.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.podIP": status.get("podIP"),
        "status.podIPs": status.get("podIP"),
        "status.hostIP": status.get("hostIP"),
        "status.hostIPs": status.get("hostIP"),
    }
    return str(simple.get(path) or "")


def _key_ref(sources: SourceData, kind: str, ref: Mapping[str, Any]) -> str | None:
    values = sources.values((kind, ref["name"]))
    key = ref.get("key", "")
    if values is not None and key in values:
        return values[key]
    if ref.get("optional"):
        return None
    raise MissingEnvSourceError(f"{kind[:-1]} {ref['name']!r} has no key {key!r}")


def _value_from(pod: Mapping[str, Any], ref: Mapping[str, Any], sources: SourceData) -> str | None:
    if "fieldRef" in ref:
        return _field_value(pod, ref["fieldRef"]["fieldPath"])
    if "configMapKeyRef" in ref:
        return _key_ref(sources, "configmaps", ref["configMapKeyRef"])
    if "secretKeyRef" in ref:
        return _key_ref(sources, "secrets", ref["secretKeyRef"])
    if "resourceFieldRef" in ref:
        return "0"  # No resource accounting for local processes.
    return None


def container_environment(
    pod: Mapping[str, Any], container: Mapping[str, Any], sources: SourceData
) -> dict[str, str]:
    """The variables a container declares, in the order Kubernetes applies them."""
    env: dict[str, str] = {}
    for item in container.get("envFrom") or []:
        prefix = item.get("prefix", "")
        for kind, key in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
            if key not in item:
                continue
            values = sources.values((kind, item[key]["name"]))
            if values is None:
                if item[key].get("optional"):
                    continue
                raise MissingEnvSourceError(f"{kind[:-1]} {item[key]['name']!r} not found")
            env.update({prefix + k: v for k, v in values.items()})
    for var in container.get("env") or []:
        if "valueFrom" in var:
            resolved = _value_from(pod, var["valueFrom"], sources)
            if resolved is not None:
                env[var["name"]] = resolved
        else:
            env[var["name"]] = expand(str(var.get("value", "")), env)
    return env
