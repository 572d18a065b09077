"""Fixtures for the workflow tests: the parsed workflows and their raw text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def load_workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    # YAML 1.1 reads the key `on` as the boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


@pytest.fixture(scope="session")
def load() -> Callable[[str], dict[str, Any]]:
    return load_workflow


@pytest.fixture(scope="session")
def workflows_dir() -> Path:
    return WORKFLOWS


@pytest.fixture(scope="session")
def release_workflow() -> dict[str, Any]:
    return load_workflow("release.yml")


@pytest.fixture(scope="session")
def ci_workflow() -> dict[str, Any]:
    return load_workflow("ci.yml")
