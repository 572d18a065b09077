"""`$(VAR)` expansion follows the kubelet's rules (k8s third_party/forked/golang/expansion)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dask_kubernetes.local.kubelet.expansion import expand

VARS = {"NAME": "worker-1", "PORT": "8786", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(NAME)", "worker-1"),
        ("--name=$(NAME):$(PORT)", "--name=worker-1:8786"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(NAME)", "$(NAME)"),
        ("$$$(NAME)", "$worker-1"),
        ("$(EMPTY)x", "x"),
        ("$(NAME", "$(NAME"),
        ("cost $5", "cost $5"),
        ("trailing $", "trailing $"),
    ],
)
def test_expand_cases(text: str, expected: str) -> None:
    assert expand(text, VARS) == expected


@given(st.text(alphabet=st.characters(blacklist_characters="$")))
def test_text_without_dollar_is_unchanged(text: str) -> None:
    assert expand(text, VARS) == text
