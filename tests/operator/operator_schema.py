"""Validate a manifest against a CRD's openAPIV3Schema with jsonschema (test helper).

OpenAPI v3 differs from JSON Schema only in `nullable` and the `x-kubernetes-*` extensions.
"""

from __future__ import annotations

from typing import Any

import jsonschema


def to_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def errors(manifest: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(to_json_schema(schema))
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(manifest)]
