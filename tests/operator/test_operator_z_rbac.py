"""Least privilege: the chart grants exactly what the operator used during this test suite.

Named to run last in this directory, after the other operator tests have exercised it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from operator_helpers import OperatorProcess
from operator_rbac import granted, used

pytestmark = pytest.mark.e2e

RULES = (
    Path(__file__).resolve().parents[2] / "charts/dask-kubernetes-operator/files/rbac-rules.yaml"
)


def test_chart_grants_exactly_what_the_operator_uses(
    k8s_cluster: Any, operator: OperatorProcess
) -> None:
    audit = k8s_cluster.require_api_server().audit
    # Watches are audited when they end: restart the operator so its open watches are recorded.
    operator.stop()
    operator.start()
    exercised = used(audit)
    if len(exercised) < 10:
        pytest.skip("run with the other operator tests: too few operator calls recorded")
    rules = granted(yaml.safe_load(RULES.read_text()))
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
