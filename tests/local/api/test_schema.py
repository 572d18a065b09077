"""CRD structural schemas: pruning, defaulting and validation."""

from __future__ import annotations

from dask_kubernetes.local.apiserver.schema import admit, apply_defaults

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["image"],
            "properties": {
                "image": {"type": "string", "pattern": "^[a-z]"},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def cr(spec: dict) -> dict:
    return {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "spec": spec}


def test_defaults_are_applied_and_unknown_fields_pruned() -> None:
    admitted, causes = admit(cr({"image": "x", "bogus": 1, "extra": {"kept": 1}}), SCHEMA)
    assert causes == []
    assert admitted["spec"] == {"image": "x", "replicas": 1, "extra": {"kept": 1}}
    assert admitted["metadata"] == {"name": "a"}


def test_every_violation_is_reported() -> None:
    _, causes = admit(cr({"replicas": 11, "mode": "c", "port": 1.5, "labels": {"a": 1}}), SCHEMA)
    by_field = {c["field"]: c["reason"] for c in causes}
    assert by_field == {
        "spec.image": "FieldValueRequired",
        "spec.replicas": "FieldValueInvalid",
        "spec.mode": "FieldValueNotSupported",
        "spec.port": "FieldValueInvalid",
        "spec.labels.a": "FieldValueTypeInvalid",
    }


def test_types_nullable_pattern_and_int_or_string() -> None:
    _, causes = admit(cr({"image": "Upper", "replicas": "3", "note": None, "port": "http"}), SCHEMA)
    assert {c["field"] for c in causes} == {"spec.image", "spec.replicas"}
    _, causes = admit(cr({"image": "ok", "port": 8786, "note": None}), SCHEMA)
    assert causes == []


def test_minimum_is_checked() -> None:
    _, causes = admit(cr({"image": "x", "replicas": -1}), SCHEMA)
    assert [c["field"] for c in causes] == ["spec.replicas"]
    assert "greater than or equal to 0" in causes[0]["message"]


def test_null_for_a_non_nullable_field_is_dropped_then_defaulted() -> None:
    schema = {
        "type": "object",
        "properties": {
            "timeout": {"type": "integer", "default": 5},
            "name": {"type": "string"},
            "maybe": {"type": "string", "nullable": True},
        },
    }
    assert apply_defaults({"timeout": None, "name": None, "maybe": None}, schema) == {
        "timeout": 5,
        "maybe": None,
    }


def test_min_and_max_items_are_enforced() -> None:
    schema = {
        "type": "object",
        "properties": {
            "containers": {
                "type": "array",
                "minItems": 1,
                "maxItems": 2,
                "items": {"type": "string"},
            }
        },
    }
    _, causes = admit({"containers": []}, schema)
    assert [c["field"] for c in causes] == ["containers"]
    assert "at least 1" in causes[0]["message"]
    _, causes = admit({"containers": ["a", "b", "c"]}, schema)
    assert [c["reason"] for c in causes] == ["FieldValueTooMany"]
    assert admit({"containers": ["a"]}, schema)[1] == []
