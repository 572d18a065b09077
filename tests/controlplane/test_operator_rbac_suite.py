"""The operator suite (tests/operator) on the real kube-apiserver, the operator holding only the
chart's RBAC; then: what it used there, as the real audit log says, is within the chart's rules.

A child pytest runs tests/operator against the plane's admin kubeconfig (the tests act as a user)
while its operator fixture runs the operator with the ServiceAccount kubeconfig. Tests that need
a Pod to run (no node here yet), the stand-in's fault injection, or an operator of its own with
the admin's rights are deselected below, each with the reason; the rest must pass.

Skips (saying how to build) when the binaries for the committed pins are not in the cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from operator_plane import OPERATOR_TESTS, operator_plane

from operator_rbac import granted, used  # isort: skip

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

FILES = Path(__file__).resolve().parents[2] / "charts/dask-kubernetes-operator/files"
RULES = (FILES / "rbac-rules.yaml", FILES / "rbac-cluster-rules.yaml")

#: node id (relative to tests/operator) -> why it cannot pass on a plane without a node.
DESELECTED: dict[str, str] = {}


@pytest.mark.timeout(2400)
def test_the_operator_suite_passes_under_the_charts_rbac(tmp_path: Path) -> None:
    with operator_plane(tmp_path, start_operator=False) as setup:
        report = tmp_path / "suite.xml"
        env = dict(os.environ) | {
            "DASK_KUBERNETES_TEST_KUBECONFIG": str(setup.plane.admin_kubeconfig),
            "DASK_KUBERNETES_TEST_OPERATOR_KUBECONFIG": str(setup.kubeconfig),
            # The suite's kubectl is the real one of the same version as the server.
            "PATH": f"{setup.plane.binaries}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"]
        command = command[:-1]  # every test, not the first failure only
        command += [f"--junitxml={report}", "-o", "junit_family=xunit2", str(OPERATOR_TESTS)]
        for node in DESELECTED:
            command += ["--deselect", str(OPERATOR_TESTS / node)]
        child = subprocess.run(
            command, cwd=OPERATOR_TESTS, env=env, capture_output=True, text=True, timeout=2300
        )
        suite = ET.parse(report).getroot()
        suite = suite if suite.tag == "testsuite" else suite[0]
        counts = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
        print("operator suite on the real plane:", counts, f"{suite.get('time')} s")
        print(child.stdout[-6000:])
        assert child.returncode == 0, child.stdout[-8000:]
        assert counts["tests"] - counts["skipped"] >= 20, counts
        records = setup.operator_records()
    exercised = used(records)
    rules = granted(rule for path in RULES for rule in yaml.safe_load(path.read_text()))
    assert exercised <= rules, f"used but not granted: {sorted(exercised - rules)}"
    assert not [r for r in records if r.code == 403], "the suite's operator was refused"
    print("granted but not used by the suite on the real plane:", sorted(rules - exercised))
