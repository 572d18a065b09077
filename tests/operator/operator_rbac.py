"""Turn audit records and RBAC rules into comparable (group, resource, verb) permissions."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: The operator's requests: kopf's own client, and ours (see dask_kubernetes.operator.rest).
OPERATOR_AGENTS = ("kopf/", "dask-kubernetes-operator/")

Permission = tuple[str, str, str]

#: Set in a child pytest run: the operator fixture writes the permissions it saw used there.
RECORD_PERMISSIONS_ENV = "DASK_K8S_TEST_RECORD_PERMISSIONS"

#: The test that judges the chart's RBAC by what the operator used (conftest.py runs it last).
RECORDED_RBAC_FILE = "test_operator_rbac_recorded.py"


@dataclass
class SuiteSelection:
    """What of tests/operator this session selected (set by conftest.py's collection hooks)."""

    files: set[Path] = field(default_factory=set)
    deselected: bool = False  # some test of the directory was deselected (-k, -m, --deselect)

    def is_whole(self, directory: Path) -> bool:
        """Every test file of `directory` selected, none of its tests deselected."""
        return not self.deselected and self.files == set(directory.glob("test_*.py"))


SUITE_SELECTION = pytest.StashKey[SuiteSelection]()


def used(records: Iterable[Any]) -> set[Permission]:
    """Permissions the operator exercised (resource requests only; discovery needs none)."""
    return {
        (r.api_group, r.rbac_resource, r.verb)
        for r in records
        if r.user_agent.startswith(OPERATOR_AGENTS) and r.resource
    }


def granted(rules: Iterable[dict[str, Any]]) -> set[Permission]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def write_permissions(path: Path, permissions: set[Permission]) -> None:
    path.write_text(json.dumps(sorted(permissions)))


def read_permissions(path: Path) -> set[Permission]:
    return {(group, resource, verb) for group, resource, verb in json.loads(path.read_text())}
