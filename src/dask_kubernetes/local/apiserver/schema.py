"""CRD structural schemas: prune unknown fields, apply defaults, then validate, as a server does."""

from __future__ import annotations

import copy
import re
from typing import Any

Schema = dict[str, Any]
Cause = dict[str, str]

_ROOT_KEPT = {"apiVersion", "kind", "metadata"}


def _preserves(schema: Schema) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


def prune(value: Any, schema: Schema, *, root: bool = False) -> Any:
    """Drop fields the schema does not declare (unless it preserves unknown fields)."""
    if isinstance(value, dict):
        properties: dict[str, Schema] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        result = {}
        for key, item in value.items():
            if root and key in _ROOT_KEPT:
                result[key] = item
            elif key in properties:
                result[key] = prune(item, properties[key])
            elif isinstance(additional, dict):
                result[key] = prune(item, additional)
            elif _preserves(schema) or additional is True:
                result[key] = item
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(item, schema["items"]) for item in value]
    return value


def unknown_fields(value: Any, schema: Schema, path: str = "") -> list[str]:
    """The paths `prune` would drop: what `fieldValidation` Strict rejects and Warn reports."""
    found: list[str] = []
    if isinstance(value, dict):
        properties: dict[str, Schema] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if not path and key in _ROOT_KEPT:
                continue
            if key in properties:
                found += unknown_fields(item, properties[key], _join(path, key))
            elif isinstance(additional, dict):
                found += unknown_fields(item, additional, _join(path, key))
            elif not (_preserves(schema) or additional is True):
                found.append(_join(path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += unknown_fields(item, schema["items"], f"{path}[{index}]")
    return found


def apply_defaults(value: Any, schema: Schema) -> Any:
    """Fill in `default`s of absent properties, recursively.

    As on a real server, a `null` for a property that is not `nullable` counts as absent: it is
    dropped, then defaulted if the schema has a default.
    """
    if isinstance(value, dict):
        result = dict(value)
        for key, prop in (schema.get("properties") or {}).items():
            if key in result and result[key] is None and not prop.get("nullable"):
                del result[key]
            if key not in result and "default" in prop:
                result[key] = copy.deepcopy(prop["default"])
            if key in result:
                result[key] = apply_defaults(result[key], prop)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            props = schema.get("properties") or {}
            for key in result:
                if key not in props:
                    result[key] = apply_defaults(result[key], additional)
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(item, schema["items"]) for item in value]
    return value


_TYPE_CHECKS = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


def _json_type(value: Any) -> str:
    for name in ("boolean", "integer", "number", "string", "array", "object"):
        if _TYPE_CHECKS[name](value):
            return name
    return "null"


def validate(value: Any, schema: Schema, path: str = "") -> list[Cause]:
    """Return every violation as a `Status` cause (reason, field, message), like a real server."""
    causes: list[Cause] = []
    _validate(value, schema, path, causes)
    return causes


def _validate(value: Any, schema: Schema, path: str, causes: list[Cause]) -> None:
    field = path or "<root>"
    if value is None:
        if not schema.get("nullable"):
            causes.append(_cause("FieldValueInvalid", field, "Invalid value: null"))
        return
    expected = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        if not (isinstance(value, str) or _TYPE_CHECKS["integer"](value)):
            causes.append(
                _cause("FieldValueInvalid", field, f'Invalid value: "{_json_type(value)}"')
            )
            return
    elif expected and not _TYPE_CHECKS[expected](value):
        causes.append(
            _cause(
                "FieldValueTypeInvalid",
                field,
                f'Invalid value: "{_json_type(value)}": {field} in body must be of type '
                f'{expected}: "{_json_type(value)}"',
            )
        )
        return
    _check_scalar(value, schema, field, causes)
    if isinstance(value, dict):
        _check_object(value, schema, path, causes)
    elif isinstance(value, list):
        _check_array(value, schema, path, causes)


def _check_array(value: list[Any], schema: Schema, path: str, causes: list[Cause]) -> None:
    field = path or "<root>"
    if "minItems" in schema and len(value) < schema["minItems"]:
        causes.append(
            _cause(
                "FieldValueInvalid",
                field,
                f"Invalid value: {len(value)}: {field} in body should have at least "
                f"{schema['minItems']} items",
            )
        )
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        causes.append(
            _cause(
                "FieldValueTooMany",
                field,
                f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
            )
        )
    if isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _validate(item, schema["items"], f"{path}[{index}]", causes)


def _check_scalar(value: Any, schema: Schema, field: str, causes: list[Cause]) -> None:
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(f'"{v}"' for v in schema["enum"])
        causes.append(
            _cause(
                "FieldValueNotSupported",
                field,
                f'Unsupported value: "{value}": supported values: {allowed}',
            )
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            causes.append(
                _cause(
                    "FieldValueInvalid",
                    field,
                    f"Invalid value: {value}: {field} in body should be greater than or equal "
                    f"to {schema['minimum']}",
                )
            )
        if "maximum" in schema and value > schema["maximum"]:
            causes.append(
                _cause(
                    "FieldValueInvalid",
                    field,
                    f"Invalid value: {value}: {field} in body should be less than or equal "
                    f"to {schema['maximum']}",
                )
            )
    if isinstance(value, str):
        pattern = schema.get("pattern")
        if pattern and not _matches(pattern, value):
            causes.append(
                _cause(
                    "FieldValueInvalid",
                    field,
                    f"Invalid value: \"{value}\": {field} in body should match '{pattern}'",
                )
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append(_cause("FieldValueTooLong", field, "Too long"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            causes.append(_cause("FieldValueInvalid", field, "Too short"))


def _matches(pattern: str, value: str) -> bool:
    """`pattern` as the API server's RE2 reads it: `$` is the end of the text, whereas Python's
    `$` also matches before a trailing newline (so `"a\\n"` would pass `^[a-z]$`)."""
    translated: list[str] = []
    in_class = escaped = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        translated.append(char)
    return re.search("".join(translated), value) is not None


def _check_object(value: dict[str, Any], schema: Schema, path: str, causes: list[Cause]) -> None:
    for name in schema.get("required") or []:
        if name not in value:
            causes.append(_cause("FieldValueRequired", _join(path, name), "Required value"))
    properties = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    for key, item in value.items():
        if not path and key in _ROOT_KEPT and key not in properties:
            continue  # a CRD may restrict metadata.name (and only that), as on a real server
        if key in properties:
            _validate(item, properties[key], _join(path, key), causes)
        elif isinstance(additional, dict):
            _validate(item, additional, _join(path, key), causes)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _cause(reason: str, field: str, message: str) -> Cause:
    return {"reason": reason, "field": field, "message": message}


def admit(obj: dict[str, Any], schema: Schema | None) -> tuple[dict[str, Any], list[Cause]]:
    """Prune, default and validate a custom resource; an empty cause list means it is admitted."""
    if not schema:
        return obj, []
    admitted = apply_defaults(prune(obj, schema, root=True), schema)
    return admitted, validate(admitted, schema)
