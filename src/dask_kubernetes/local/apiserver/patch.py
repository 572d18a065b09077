"""The three PATCH flavours clients send: JSON merge patch, JSON patch and strategic merge patch."""

from __future__ import annotations

import copy
from typing import Any

from dask_kubernetes.local.apimachinery.errors import APIError

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise APIError(422, f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    current = doc
    for part in parts[:-1]:
        if isinstance(current, list):
            current = current[_index(current, part, existing=True)]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            raise APIError(422, f"path /{'/'.join(parts)} does not exist")
    return current


def _index(container: list[Any], part: str, *, existing: bool) -> int:
    if part == "-" and not existing:
        return len(container)
    if not part.isdigit():
        raise APIError(422, f"invalid array index {part!r}")
    index = int(part)
    limit = len(container) if existing else len(container) + 1
    if index >= limit:
        raise APIError(422, f"array index {index} out of range")
    return index


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _parent(doc, parts)
    if isinstance(parent, list):
        return parent[_index(parent, parts[-1], existing=True)]
    if isinstance(parent, dict) and parts[-1] in parent:
        return parent[parts[-1]]
    raise APIError(422, f"path {path} does not exist")


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _parent(doc, parts)
    if isinstance(parent, list):
        return parent.pop(_index(parent, parts[-1], existing=True))
    if isinstance(parent, dict) and parts[-1] in parent:
        return parent.pop(parts[-1])
    raise APIError(422, f"unable to remove nonexistent key {parts[-1]!r}")


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(doc, parts)
    if isinstance(parent, list):
        parent.insert(_index(parent, parts[-1], existing=False), value)
    elif isinstance(parent, dict):
        parent[parts[-1]] = value
    else:
        raise APIError(422, f"cannot add at {path}")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902, applied to a copy so a failing operation leaves the object untouched."""
    if not isinstance(operations, list):
        raise APIError(400, "a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise APIError(400, f"invalid JSON patch operation {op!r}")
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            if _pointer(path):
                _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "move":
            value = _remove(doc, op["from"])
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op["from"])))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise APIError(422, f"test operation failed at {path}")
        else:
            raise APIError(400, f"unknown JSON patch operation {kind!r}")
    return doc


# Merge keys of the lists strategic merge patch merges element-wise (from the Kubernetes Go
# types' `patchMergeKey` tags); other lists are replaced, as for unknown types.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "podIPs": "ip",
    "hostIPs": "ip",
}
_PRIMITIVE_SETS = {"finalizers"}


def _merge_key(path: tuple[str, ...]) -> str | None:
    field = path[-1]
    if field == "ports":
        # Service ports merge on `port`, container ports on `containerPort`.
        return "containerPort" if "containers" in path or "initContainers" in path else "port"
    return _MERGE_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    """The subset of strategic merge patch kubectl and clients use on built-in types."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key == "$retainKeys":
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [v for v in result.get(field) or [] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            merged = _merge_list(result.get(key), value, (*path, key))
            result[key] = merged
        else:
            merged_value = strategic_merge_patch(result.get(key), value, (*path, key))
            if merged_value is None and isinstance(value, dict):
                result.pop(key, None)
            else:
                result[key] = merged_value
    return result


def _merge_list(current: Any, patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    current_list = copy.deepcopy(current) if isinstance(current, list) else []
    if path[-1] in _PRIMITIVE_SETS:
        # A union, as kube-apiserver merges `finalizers`: `[]` changes nothing (null clears).
        return current_list + [v for v in patch if v not in current_list]
    if not patch:
        return []
    key = _merge_key(path)
    if key is None or not all(isinstance(item, dict) for item in patch):
        return [copy.deepcopy(v) for v in patch if not _is_directive(v)]
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [copy.deepcopy(v) for v in patch if not _is_directive(v)]
    for item in patch:
        position = next(
            (i for i, old in enumerate(current_list) if old.get(key) == item.get(key)), None
        )
        if item.get("$patch") == "delete":
            if position is not None:
                current_list.pop(position)
        elif position is None:
            current_list.append(strategic_merge_patch({}, item, path))
        else:
            current_list[position] = strategic_merge_patch(current_list[position], item, path)
    return current_list


def _is_directive(value: Any) -> bool:
    return isinstance(value, dict) and "$patch" in value and len(value) == 1


def apply_patch(content_type: str, target: Any, patch: Any, *, custom: bool) -> Any:
    """Dispatch on the request's content type, refusing what a real server refuses."""
    kind = content_type.split(";")[0].strip()
    if kind == MERGE_PATCH:
        return merge_patch(target, patch)
    if kind == JSON_PATCH:
        return json_patch(target, patch)
    if kind == STRATEGIC_MERGE_PATCH:
        if custom:
            raise APIError(
                415, "strategic merge patch is not supported for custom resources; use merge patch"
            )
        return strategic_merge_patch(target, patch)
    raise APIError(415, f"unsupported patch type {kind!r}")
