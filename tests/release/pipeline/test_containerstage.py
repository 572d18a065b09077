"""The container-node stage runs the very pytest command release.yml's kind job runs (the gate in
front of every upload), on this machine's container node; a workflow it cannot read that way is
refused with one line, never guessed at."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dask_kubernetes_release.core.errors import CheckFailed
from dask_kubernetes_release.pipeline.containerstage import (
    EXTRA_PATHS,
    NODE_ARGS,
    WORKFLOW,
    kind_job_pytest,
    stage_arguments,
)

ROOT = Path(__file__).resolve().parents[3]


def test_the_stage_runs_the_kind_jobs_module_on_the_container_node() -> None:
    """Read independently of the stage: the kind job's pytest line, word for word, is the head
    of the stage's arguments, and it names tests/e2e with the e2e marker."""
    workflow = yaml.safe_load((ROOT / WORKFLOW).read_text())
    runs = "\n".join(str(s.get("run", "")) for s in workflow["jobs"]["kind-e2e"]["steps"])
    (line,) = [x.strip() for x in runs.splitlines() if x.strip().startswith("python -m pytest")]
    gate = line.split()[3:]
    args = stage_arguments(ROOT)
    assert args[: len(gate)] == gate
    assert "tests/e2e" in gate and gate[gate.index("-m") + 1] == "e2e"
    assert args[-len(NODE_ARGS) :] == list(NODE_ARGS)


def test_the_stage_runs_the_gateway_pod_module_under_the_gates_marker() -> None:
    """The chart's gateway as a Pod (issue #25: "the gateway ... as a pod") is in the stage, and
    the gate's `-m e2e` selects its tests there: a module without the marker would be
    collected and silently deselected, so collect it with the stage's own options."""
    module = "tests/gateway/test_gateway_pod.py"
    args = stage_arguments(ROOT)
    assert module in EXTRA_PATHS and module in args
    gate = args[: len(args) - len(EXTRA_PATHS) - len(NODE_ARGS)]
    marker = gate[gate.index("-m") : gate.index("-m") + 2]
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *marker, module, *NODE_ARGS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]
    selected = [line for line in collected.stdout.splitlines() if line.startswith(module + "::")]
    assert len(selected) >= 5, collected.stdout[-2000:]
    assert any("computes_through_the_gateway_pod" in line for line in selected)


def _workflow(tmp_path: Path, steps: list[dict[str, str]]) -> Path:
    path = tmp_path / WORKFLOW
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump({"jobs": {"kind-e2e": {"steps": steps}}}))
    return tmp_path


def test_a_kind_job_running_pytest_twice_is_refused(tmp_path: Path) -> None:
    root = _workflow(
        tmp_path,
        [{"run": "python -m pytest tests/e2e -m e2e"}, {"run": "python -m pytest tests/other"}],
    )
    with pytest.raises(CheckFailed, match="runs pytest 2 times"):
        kind_job_pytest(root)


def test_a_workflow_without_the_kind_job_is_refused(tmp_path: Path) -> None:
    path = tmp_path / WORKFLOW
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump({"jobs": {"build": {"steps": []}}}))
    with pytest.raises(CheckFailed, match="no job 'kind-e2e'"):
        kind_job_pytest(tmp_path)


def test_continuation_lines_beside_the_pytest_line_are_skipped(tmp_path: Path) -> None:
    """Shell continuations (a lone backslash) cannot be split alone; only the pytest line is."""
    root = _workflow(
        tmp_path,
        [{"run": "helm install x \\\n  --wait\npython -m pytest tests/e2e -m e2e -x\n"}],
    )
    assert kind_job_pytest(root) == ["tests/e2e", "-m", "e2e", "-x"]
