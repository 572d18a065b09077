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


LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
NAMED = {
    "type": "object",
    "properties": {
        "metadata": {
            "type": "object",
            "properties": {"name": {"type": "string", "maxLength": 5, "pattern": LABEL}},
        },
        "spec": {
            "type": "object",
            "properties": {"cluster": {"type": "string", "maxLength": 5, "pattern": LABEL}},
        },
    },
}


def _named(name: str, cluster: str) -> dict:
    return {
        "apiVersion": "x/v1",
        "kind": "X",
        "metadata": {"name": name, "uid": "u"},
        "spec": {"cluster": cluster},
    }


def test_pattern_and_max_length_are_enforced() -> None:
    assert admit(_named("a", "ok"), NAMED)[1] == []
    _, causes = admit(_named("a", "../x"), NAMED)
    assert [(c["field"], c["reason"]) for c in causes] == [("spec.cluster", "FieldValueInvalid")]
    _, causes = admit(_named("a", "abcdef"), NAMED)
    assert [(c["field"], c["reason"]) for c in causes] == [("spec.cluster", "FieldValueTooLong")]


def test_dollar_is_the_end_of_the_text_as_in_re2() -> None:
    """Python's `$` also matches before a final newline; the API server's does not."""
    _, causes = admit(_named("a", "ok\n"), NAMED)
    assert [c["field"] for c in causes] == ["spec.cluster"]
    escaped = {"type": "object", "properties": {"p": {"type": "string", "pattern": r"^a\$[$]$"}}}
    assert admit({"p": "a$$"}, escaped)[1] == []


def test_a_crd_may_restrict_metadata_name() -> None:
    """Only when the schema declares it; the rest of metadata is left alone (not pruned)."""
    admitted, causes = admit(_named("a.b", "ok"), NAMED)
    assert [c["field"] for c in causes] == ["metadata.name"]
    assert admitted["metadata"] == {"name": "a.b", "uid": "u"}
    _, causes = admit(_named("a.b", "ok"), SCHEMA)  # declares no metadata: name not checked
    assert "metadata.name" not in {c["field"] for c in causes}
