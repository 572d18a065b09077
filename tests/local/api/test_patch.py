"""Patch semantics: RFC 7386 merge patch, RFC 6902 JSON patch, strategic merge patch."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dask_kubernetes.local.apimachinery.errors import APIError
from dask_kubernetes.local.apiserver.patch import (
    apply_patch,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)

keys = st.text("abcdef", min_size=1, max_size=3)
scalars = st.one_of(st.integers(), st.text(max_size=3), st.booleans())
documents = st.recursive(
    scalars, lambda inner: st.dictionaries(keys, inner, max_size=4), max_leaves=12
).filter(lambda d: isinstance(d, dict))


@given(documents, documents)
def test_merge_patch_is_idempotent(target: dict, patch: dict) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once


@given(documents)
def test_merge_patch_with_itself_is_identity(document: dict) -> None:
    assert merge_patch(document, document) == document


@given(documents, documents)
def test_merge_patch_does_not_mutate_inputs(target: dict, patch: dict) -> None:
    before = (repr(target), repr(patch))
    merge_patch(target, patch)
    assert (repr(target), repr(patch)) == before


def test_merge_patch_null_deletes_and_lists_replace() -> None:
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2]}
    assert merge_patch(target, {"a": {"b": None}, "l": [3]}) == {"a": {"c": 2}, "l": [3]}


def test_json_patch_operations() -> None:
    doc = {"metadata": {"labels": {"a": "1"}}, "spec": {"items": [1, 2]}}
    result = json_patch(
        doc,
        [
            {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
            {"op": "replace", "path": "/spec/items/0", "value": 9},
            {"op": "add", "path": "/spec/items/-", "value": 3},
            {"op": "remove", "path": "/metadata/labels/a"},
            {"op": "copy", "from": "/spec/items", "path": "/spec/copy"},
            {"op": "move", "from": "/spec/copy", "path": "/spec/moved"},
            {"op": "test", "path": "/spec/moved/0", "value": 9},
        ],
    )
    assert result == {
        "metadata": {"labels": {"b/c": "2"}},
        "spec": {"items": [9, 2, 3], "moved": [9, 2, 3]},
    }
    assert doc["spec"]["items"] == [1, 2]


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "test", "path": "/a", "value": 2},
        {"op": "remove", "path": "/missing"},
        {"op": "replace", "path": "/missing", "value": 1},
        {"op": "add", "path": "/x/y", "value": 1},
    ],
)
def test_json_patch_failures_are_422(operation: dict) -> None:
    with pytest.raises(APIError) as info:
        json_patch({"a": 1}, [operation])
    assert info.value.code == 422


def test_strategic_merge_merges_containers_env_and_finalizers() -> None:
    pod = {
        "metadata": {"finalizers": ["a"]},
        "spec": {
            "containers": [
                {"name": "main", "image": "x", "env": [{"name": "A", "value": "1"}]},
                {"name": "side", "image": "y"},
            ]
        },
    }
    patch = {
        "metadata": {"finalizers": ["b"]},
        "spec": {
            "containers": [
                {"name": "main", "env": [{"name": "B", "value": "2"}]},
                {"name": "side", "$patch": "delete"},
            ]
        },
    }
    result = strategic_merge_patch(pod, patch)
    assert result["metadata"]["finalizers"] == ["a", "b"]
    assert result["spec"]["containers"] == [
        {
            "name": "main",
            "image": "x",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        }
    ]


def test_strategic_merge_directives() -> None:
    target = {"metadata": {"finalizers": ["a", "b"]}, "spec": {"x": {"y": 1, "z": 2}}}
    patch = {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]},
        "spec": {"x": {"$patch": "replace", "w": 3}},
    }
    assert strategic_merge_patch(target, patch) == {
        "metadata": {"finalizers": ["b"]},
        "spec": {"x": {"w": 3}},
    }


def test_service_ports_merge_on_port() -> None:
    svc = {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 8786, "name": "tcp"}]}}
    result = strategic_merge_patch(svc, {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}})
    assert result["spec"]["ports"][0] == {"port": 80, "name": "http", "targetPort": 8080}
    assert len(result["spec"]["ports"]) == 2


def test_strategic_merge_is_refused_for_custom_resources() -> None:
    with pytest.raises(APIError) as info:
        apply_patch("application/strategic-merge-patch+json", {}, {}, custom=True)
    assert info.value.code == 415


@given(documents, documents)
def test_strategic_merge_equals_merge_patch_without_lists(target: dict, patch: dict) -> None:
    """With no lists or directives involved, the two merge flavours agree."""
    assert strategic_merge_patch(target, patch) == merge_patch(target, patch)


@given(documents, keys, scalars)
def test_json_patch_add_then_remove_restores(document: dict, key: str, value: object) -> None:
    path = f"/{key}"
    added = json_patch(document, [{"op": "add", "path": path, "value": value}])
    assert added[key] == value
    if key not in document:
        assert json_patch(added, [{"op": "remove", "path": path}]) == document
