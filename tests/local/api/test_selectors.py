"""Label and field selector parsing and matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dask_kubernetes.local.apimachinery.errors import APIError
from dask_kubernetes.local.apimachinery.selectors import (
    Selection,
    parse_label_selector,
    selector_to_string,
)


def obj(labels: dict[str, str], **fields: object) -> dict:
    return {"metadata": {"name": "n", "namespace": "ns", "labels": labels}, **fields}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=dask", {"app": "dask"}, True),
        ("app==dask", {"app": "other"}, False),
        ("app!=dask", {}, True),
        ("app!=dask", {"app": "dask"}, False),
        ("role in (scheduler, worker)", {"role": "worker"}, True),
        ("role notin (scheduler)", {"role": "scheduler"}, False),
        ("role", {"role": ""}, True),
        ("!role", {"role": "x"}, False),
        ("app=dask,role in (worker),!gone", {"app": "dask", "role": "worker"}, True),
        ("dask.org/cluster-name=a", {"dask.org/cluster-name": "a"}, True),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert Selection.parse(selector, None).matches(obj(labels)) is expected


def test_field_selectors() -> None:
    pod = obj({}, status={"phase": "Running"}, spec={"nodeName": ""})
    assert Selection.parse(None, "metadata.name=n,status.phase=Running").matches(pod)
    assert not Selection.parse(None, "status.phase!=Running").matches(pod)
    assert Selection.parse(None, "spec.nodeName=").matches(pod)


def test_bad_selector_is_400() -> None:
    with pytest.raises(APIError) as info:
        parse_label_selector("a in b")
    assert info.value.code == 400


label_keys = st.from_regex(r"[a-z]([a-z0-9.-]{0,8}[a-z0-9])?", fullmatch=True)
label_values = st.from_regex(r"[a-z0-9]{0,6}", fullmatch=True)


@given(st.dictionaries(label_keys, label_values, min_size=1, max_size=4))
def test_match_labels_round_trip(labels: dict[str, str]) -> None:
    """A selector rendered from matchLabels selects exactly objects carrying those labels."""
    text = selector_to_string({"matchLabels": labels})
    assert Selection.parse(text, None).matches(obj(labels))
    first = next(iter(labels))
    assert not Selection.parse(text, None).matches(obj({**labels, first: labels[first] + "x"}))


def test_match_expressions_render() -> None:
    text = selector_to_string(
        {
            "matchLabels": {"a": "1"},
            "matchExpressions": [
                {"key": "b", "operator": "In", "values": ["x", "y"]},
                {"key": "c", "operator": "DoesNotExist"},
            ],
        }
    )
    selection = Selection.parse(text, None)
    assert selection.matches(obj({"a": "1", "b": "y"}))
    assert not selection.matches(obj({"a": "1", "b": "y", "c": ""}))
