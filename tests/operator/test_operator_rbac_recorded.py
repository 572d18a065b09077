"""Least privilege: the chart grants exactly what the operator used during this test suite.

Independent of file order: conftest.py runs this test after every other selected test. When the
session selected the whole of this directory, the operator has been exercised by those tests and
their audit records are judged; otherwise (run alone, or with -k), it runs the other operator
tests in a child pytest and judges what that run used. It never judges a partial exercise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from operator_helpers import OperatorProcess
from operator_rbac import (
    RECORD_PERMISSIONS_ENV,
    SUITE_SELECTION,
    Permission,
    SuiteSelection,
    granted,
    read_permissions,
    used,
)

pytestmark = pytest.mark.e2e

FILES = Path(__file__).resolve().parents[2] / "charts/dask-kubernetes-operator/files"
#: What the chart grants by default (cluster-wide, no peering): namespaced plus cluster rules.
RULES = (FILES / "rbac-rules.yaml", FILES / "rbac-cluster-rules.yaml")


HERE = Path(__file__).resolve().parent


def _used_by_the_operator_tests(tmp_path: Path) -> set[Permission]:
    """Run this directory's other tests in a child pytest and read what the operator used."""
    record = tmp_path / "permissions.json"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE)]
    command += ["-k", f"not {_NAME}"]
    env = dict(os.environ) | {RECORD_PERMISSIONS_ENV: str(record)}
    child = subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True)
    assert child.returncode == 0, "the operator tests failed:\n" + child.stdout[-5000:]
    return read_permissions(record)


_NAME = "test_chart_grants_exactly_what_the_operator_uses"


@pytest.mark.timeout(1200)
def test_chart_grants_exactly_what_the_operator_uses(
    k8s_cluster: Any, operator: OperatorProcess, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    audit = k8s_cluster.require_api_server().audit
    selection = request.config.stash.get(SUITE_SELECTION, SuiteSelection())
    if selection.is_whole(HERE):
        # Watches are audited when they end: restart the operator so its open watches are recorded.
        operator.stop()
        operator.start()
        exercised = used(audit)
    else:  # run alone or with a part of the suite: exercise the operator with all of it
        exercised = _used_by_the_operator_tests(tmp_path)
    assert exercised, "the operator was seen using no permission at all"
    rules = granted(rule for path in RULES for rule in yaml.safe_load(path.read_text()))
    missing = sorted(exercised - rules)
    # `get` on a resource the operator lists reveals nothing more; whether kopf happens to issue
    # one in a given run is timing-dependent, so it is not counted as excess.
    listed = {(group, resource) for group, resource, verb in exercised if verb == "list"}
    excess = sorted(
        (group, resource, verb)
        for group, resource, verb in rules - exercised
        if not (verb == "get" and (group, resource) in listed)
    )
    assert not missing, f"the chart does not grant (operator breaks): {missing}"
    assert not excess, f"the chart grants more than the operator uses: {excess}"
