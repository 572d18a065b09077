"""Rules every workflow here follows, checked on both: pinned actions, no leaked credentials,
no template injection, least privilege, hash-locked installs. And ci.yml's coverage."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
Load = Callable[[str], dict[str, Any]]

NAMES = ["release.yml", "ci.yml"]
PINNED = re.compile(
    r"^\s*(?:-\s+)?uses:\s+(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})"
    r"\s+#\s+v\d+\.\d+\.\d+\s*$"
)


def all_steps(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield name, step


@pytest.mark.parametrize("name", NAMES)
def test_every_action_is_pinned_by_full_sha_with_its_version(name: str, load: Load) -> None:
    lines = [line for line in (WORKFLOWS / name).read_text().splitlines() if "uses:" in line]
    assert lines
    for line in lines:
        assert PINNED.match(line), f"{name}: not pinned by SHA with a '# vX.Y.Z' comment: {line}"
    parsed = [s["uses"] for _, s in all_steps(load(name)) if "uses" in s]
    assert len(parsed) == len(lines)


def test_each_action_has_one_pin_across_workflows() -> None:
    pins: dict[str, set[str]] = {}
    for name in NAMES:
        for line in (WORKFLOWS / name).read_text().splitlines():
            match = PINNED.match(line)
            if match:
                pins.setdefault(match["action"], set()).add(line.split("@", 1)[1].strip())
    assert pins
    assert {action for action, seen in pins.items() if len(seen) > 1} == set()


@pytest.mark.parametrize("name", NAMES)
def test_checkouts_do_not_persist_credentials(name: str, load: Load) -> None:
    checkouts = [
        (job, s)
        for job, s in all_steps(load(name))
        if s.get("uses", "").startswith("actions/checkout@")
    ]
    assert checkouts
    for job, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, job


@pytest.mark.parametrize("name", NAMES)
def test_no_expressions_inside_run_scripts(name: str, load: Load) -> None:
    for job, step in all_steps(load(name)):
        assert "${{" not in step.get("run", ""), f"{name}/{job}: pass it through env: instead"


@pytest.mark.parametrize("name", NAMES)
def test_top_level_permissions_are_empty_and_jobs_state_theirs(name: str, load: Load) -> None:
    workflow = load(name)
    assert workflow["permissions"] == {}
    for job_name, job in workflow["jobs"].items():
        assert isinstance(job.get("permissions"), dict), job_name


@pytest.mark.parametrize("name", NAMES)
def test_scripts_fail_on_any_failed_command_in_a_pipe(name: str, load: Load) -> None:
    workflow = load(name)
    assert workflow["defaults"]["run"]["shell"] == "bash"
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            assert step.get("shell", "bash") == "bash", f"{name}/{job_name}"


@pytest.mark.parametrize("name", NAMES)
def test_no_pull_request_target_and_concurrency_per_ref(name: str, load: Load) -> None:
    workflow = load(name)
    assert "pull_request_target" not in workflow["on"]
    assert "pull_request_target" not in (WORKFLOWS / name).read_text()
    assert "${{ github.ref }}" in workflow["concurrency"]["group"]


@pytest.mark.parametrize("name", NAMES)
def test_installs_are_hash_locked(name: str, load: Load) -> None:
    installs = [
        line.strip()
        for _, step in all_steps(load(name))
        for line in step.get("run", "").splitlines()
        if "pip install" in line
    ]
    assert installs
    for line in installs:
        if " -r " in line:
            assert "--require-hashes" in line, line
            assert re.search(r"-r (release|tests)/requirements\.lock$", line), line
        else:
            assert line.endswith("--no-deps --no-build-isolation -e ."), line


def test_ci_runs_on_pushes_and_pull_requests_read_only(ci_workflow: dict[str, Any]) -> None:
    assert set(ci_workflow["on"]) == {"push", "pull_request"}
    for job_name, job in ci_workflow["jobs"].items():
        assert set(job["permissions"].values()) == {"read"}, job_name
    assert "secrets." not in (WORKFLOWS / "ci.yml").read_text()


def test_ci_covers_lint_types_tests_chart_and_workflows(ci_workflow: dict[str, Any]) -> None:
    runs = "\n".join(step.get("run", "") for _, step in all_steps(ci_workflow))
    for command in (
        "python -m ruff check",
        "python -m ruff format --check",
        "python -m mypy",
        "python -m pytest",
        "helm lint --strict charts/dask-kubernetes-operator",
        "python -m dask_kubernetes.operator.crds check charts/dask-kubernetes-operator",
        "zizmor --offline --no-ignores --persona auditor --min-severity informational",
        "python -m pytest tests/workflows",
    ):
        assert command in runs, command
    tests = ci_workflow["jobs"]["tests"]
    assert tests["strategy"]["matrix"]["python"] == ["3.10", "3.11", "3.12", "3.13"]


def test_dependabot_keeps_every_pin_moving(workflows_dir: Path) -> None:
    import yaml

    config = yaml.safe_load((workflows_dir.parent / "dependabot.yml").read_text())
    ecosystems = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    assert ecosystems == {
        ("github-actions", "/"),
        ("docker", "/release/docker"),
        ("gomod", "/tools/actionlint"),
    }
