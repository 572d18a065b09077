"""`python -m release pipeline` rehearses release.yml: the same commands, in the same order.

Each pipeline step names the release.yml job and command it stands for; the workflow's own
commands are read from its `run:` scripts (job order, then step order). The inter-job re-checks
(steps named "Re-check ...") guard artifacts crossing jobs, which a single local directory
never does, and `chart --print-version` only names the image tag; both are left out. The jobs
the pipeline cannot run locally are listed, with their reasons, in `NOT_REHEARSED`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dask_kubernetes_release.pipeline.steps import E2E, NOT_REHEARSED, UNIT, Step, plan

WORKFLOW = Path(__file__).resolve().parents[3] / ".github" / "workflows" / "release.yml"
_RELEASE = re.compile(r"python -m release ([a-z]+)")
_PYTEST = re.compile(r"python -m pytest\b")


def workflow_commands(workflow: dict[str, Any]) -> list[tuple[str, str]]:
    """(job, command) for every release and pytest command release.yml runs, in order."""
    found: list[tuple[str, str]] = []
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            run = step.get("run")
            if run is None or str(step.get("name", "")).startswith("Re-check"):
                continue
            for line in run.replace("\\\n", " ").splitlines():
                if "--print-version" in line:
                    continue
                if match := _RELEASE.search(line):
                    found.append((job_id, match.group(1)))
                elif _PYTEST.search(line):
                    found.append((job_id, E2E if "-m e2e" in line else UNIT))
    return found


def pipeline_commands(steps: list[Step]) -> list[tuple[str, str]]:
    return [(step.job, step.command) for step in steps]


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    document = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_pipeline_runs_the_workflows_commands_in_its_order(workflow: dict[str, Any]) -> None:
    expected = workflow_commands(workflow)
    assert ("build", "build") in expected and ("attest", "verify") in expected  # read for real
    assert pipeline_commands(plan(skip_tests=False, upload=False)) == expected


def test_every_job_is_rehearsed_or_says_why_not(workflow: dict[str, Any]) -> None:
    rehearsed = {job for job, _ in pipeline_commands(plan(skip_tests=False, upload=False))}
    assert rehearsed | set(NOT_REHEARSED) == set(workflow["jobs"])
    assert not rehearsed & set(NOT_REHEARSED)
    assert {job for job, _ in workflow_commands(workflow)} <= rehearsed


def test_upload_stands_for_the_publish_job_before_the_github_release() -> None:
    steps = pipeline_commands(plan(skip_tests=True, upload=True))
    assert steps.index(("publish", "upload")) < steps.index(("github-release", "verify"))


def _steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = workflow["jobs"][job]["steps"]
    return steps


def test_a_workflow_that_drifts_is_caught(workflow: dict[str, Any]) -> None:
    """Break it from the workflow's side: reorder two commands, then add one."""
    ours = pipeline_commands(plan(skip_tests=False, upload=False))
    swapped = copy.deepcopy(workflow)
    build = _steps(swapped, "build")
    at = {step.get("run"): i for i, step in enumerate(build)}
    i, j = at["python -m release manifest dist"], at["python -m release lock dist"]
    build[i], build[j] = build[j], build[i]
    assert workflow_commands(swapped) != ours
    added = copy.deepcopy(workflow)
    _steps(added, "attest").append({"name": "Rebuild", "run": "python -m release rebuild dist"})
    assert workflow_commands(added) != ours
    assert workflow_commands(workflow) == ours


def test_a_pipeline_that_drifts_is_caught(workflow: dict[str, Any]) -> None:
    """Break it from the pipeline's side: reorder two steps, then drop one."""
    expected = workflow_commands(workflow)
    steps = plan(skip_tests=False, upload=False)
    reordered = [steps[1], steps[0], *steps[2:]]
    assert pipeline_commands(reordered) != expected
    dropped = [step for step in steps if step.command != "lock"]
    assert pipeline_commands(dropped) != expected
