"""The lock is part of the release: release.yml's build job and the local pipeline run it, and
the GitHub release attaches every file it writes (no network, reads the workflow and the plan)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dask_kubernetes_release.core.lockfiles import LOCK_NAMES
from dask_kubernetes_release.pipeline.steps import plan

WORKFLOW = Path(__file__).resolve().parents[3] / ".github" / "workflows" / "release.yml"


def _runs(job: dict[str, Any]) -> list[str]:
    return [str(step.get("run", "")) for step in job["steps"]]


def test_build_job_locks_before_recording_digests() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    runs = _runs(jobs["build"])
    order = {
        name: next(i for i, run in enumerate(runs) if needle in run)
        for name, needle in {
            "build": "python -m release build",
            "manifest": "python -m release manifest dist",
            "lock": "python -m release lock dist",
            "check": "python -m release check dist",
            "digests": "manifest-sha256=",
        }.items()
    }
    assert order["build"] < order["manifest"] < order["lock"] < order["check"] < order["digests"]


def test_github_release_attaches_every_lock_file() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    (create,) = [run for run in _runs(jobs["github-release"]) if "gh release create" in run]
    patterns = ["dist/requirements.txt", "dist/requirements-*.txt", "dist/pylock*.toml"]
    assert all(pattern in create for pattern in [*patterns, "dist/sbom.cdx.json"])
    for name in LOCK_NAMES:
        assert any(Path(name).match(Path(p).name) for p in patterns) or f"dist/{name}" in create


def test_pipeline_locks_right_after_the_manifest() -> None:
    steps = plan(skip_tests=True, upload=False)
    assert [(step.job, step.command) for step in steps[:4]] == [
        ("build", "build"),
        ("build", "manifest"),
        ("build", "lock"),
        ("build", "check"),
    ]


def test_readme_shows_the_commands_the_tests_run() -> None:
    """The install tests run exactly these lines (test_release_lock.py, with absolute paths)."""
    readme = (WORKFLOW.parents[2] / "README.md").read_text()
    section = readme.split("## For people who install with hashes", 1)[1].split("\n## ", 1)[0]
    for line in (
        "pip install --require-hashes -r requirements.txt ",
        "pip install --require-hashes -r requirements-local.txt ",
        "uv pip install -r pylock.toml ",
        "uv pip install -r pylock.local.toml ",
    ):
        assert line in section, line
    assert all(name in section for name in ("sbom.cdx.json", "manifest.json", "SHA256SUMS"))
