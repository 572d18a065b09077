"""release.yml's own integrity scripts, run with bash on real `release manifest` output.

The build job records digests; every later job re-checks the downloaded artifact against them.
Here an artifact is swapped the ways an attacker could (one file; a file plus a regenerated,
self-consistent manifest) and the workflow's exact scripts must refuse it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WHEEL = "dask_kubernetes-2026.3.0-py3-none-any.whl"
SDIST = "dask_kubernetes-2026.3.0.tar.gz"
MakeDist = Callable[..., Path]  # the root conftest fixture: a small real wheel or sdist


def step(job: dict[str, Any], name_start: str) -> dict[str, Any]:
    matches = [s for s in job["steps"] if s.get("name", "").startswith(name_start)]
    assert len(matches) == 1, name_start
    found: dict[str, Any] = matches[0]
    return found


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        **env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "DASK_K8S_NO_BOOTSTRAP": "1",
    }
    # GitHub runs `run:` scripts with `bash -e {0}` (plus pipefail when shell: bash is implied).
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
    )


def manifest(workspace: Path) -> None:
    proc = bash("python -m release manifest dist", workspace, {})
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def pristine(
    tmp_path_factory: pytest.TempPathFactory,
    release_workflow: dict[str, Any],
    make_dist: MakeDist,
) -> tuple[Path, dict[str, str]]:
    """A workspace after the build job: dist/ with its manifest, chart/, and the job's outputs."""
    workspace = tmp_path_factory.mktemp("build-job")
    dist = workspace / "dist"
    dist.mkdir()
    make_dist(dist, WHEEL, padding=24_000)
    make_dist(dist, SDIST, padding=27_000)
    (dist / "build-toolchain.json").write_text('{"what": "the build job\'s toolchain record"}\n')
    manifest(workspace)
    (workspace / "chart").mkdir()
    (workspace / "chart" / "dask-kubernetes-operator-2026.3.0.tgz").write_bytes(b"chart" * 99)
    outputs = workspace.parent / "github_output"
    outputs.touch()
    record = step(release_workflow["jobs"]["build"], "Record digests")
    proc = bash(record["run"], workspace, {"GITHUB_OUTPUT": str(outputs)})
    assert proc.returncode == 0, proc.stderr
    recorded = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert set(recorded) == {"manifest-sha256", "sums-sha256", "chart-sha256", "toolchain-sha256"}
    return workspace, recorded


@pytest.fixture
def built(pristine: tuple[Path, dict[str, str]], tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A private copy of the build job's workspace, as a downstream job downloads it."""
    workspace = tmp_path / "job"
    shutil.copytree(pristine[0], workspace)
    return workspace, pristine[1]


def recheck(
    workspace: Path, recorded: dict[str, str], workflow: dict[str, Any], job: str
) -> subprocess.CompletedProcess[str]:
    script = step(workflow["jobs"][job], "Re-check")
    env = {
        key: value.replace("${{ needs.build.outputs.", "").removesuffix(" }}")
        for key, value in script["env"].items()
    }
    resolved = {key: recorded[name] for key, name in env.items() if name in recorded}
    return bash(script["run"], workspace, resolved)


def test_every_job_runs_the_same_recheck(release_workflow: dict[str, Any]) -> None:
    jobs = release_workflow["jobs"]
    scripts = {
        (step(jobs[name], "Re-check")["run"], str(step(jobs[name], "Re-check")["env"]))
        for name in ("test", "kind-e2e", "attest", "publish")
    }
    assert len(scripts) == 1, "one script, tested below, guards every job"


def test_untouched_artifact_passes(
    built: tuple[Path, dict[str, str]], release_workflow: dict[str, Any]
) -> None:
    workspace, recorded = built
    proc = recheck(workspace, recorded, release_workflow, "attest")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dist/SHA256SUMS: OK" in proc.stdout


def test_a_swapped_toolchain_record_is_refused(
    built: tuple[Path, dict[str, str]], release_workflow: dict[str, Any]
) -> None:
    """The attest job reads build-toolchain.json: a swapped one must not reach the provenance."""
    workspace, recorded = built
    (workspace / "dist" / "build-toolchain.json").write_text('{"what": "a forged record"}\n')
    proc = recheck(workspace, recorded, release_workflow, "attest")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "dist/build-toolchain.json: FAILED" in proc.stdout


def test_a_swapped_distribution_is_refused(
    built: tuple[Path, dict[str, str]], release_workflow: dict[str, Any], make_dist: MakeDist
) -> None:
    workspace, recorded = built
    make_dist(workspace / "dist", WHEEL, padding=23_999)  # an evil wheel
    proc = recheck(workspace, recorded, release_workflow, "attest")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert WHEEL in proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_swapped_artifact_with_a_fresh_manifest_is_refused(
    built: tuple[Path, dict[str, str]], release_workflow: dict[str, Any], make_dist: MakeDist
) -> None:
    """Self-consistent but not what the build job made: only the recorded digests catch it."""
    workspace, recorded = built
    make_dist(workspace / "dist", WHEEL, padding=23_999)  # an evil wheel
    manifest(workspace)
    assert bash("python -m release check dist", workspace, {}).returncode == 0
    proc = recheck(workspace, recorded, release_workflow, "publish")
    assert proc.returncode != 0
    assert "dist/SHA256SUMS: FAILED" in proc.stdout


@pytest.mark.slow
def test_github_release_refuses_a_swapped_chart(
    built: tuple[Path, dict[str, str]], release_workflow: dict[str, Any]
) -> None:
    workspace, recorded = built
    (workspace / "attestations-out").mkdir()
    (workspace / "attestations-out" / f"{WHEEL}.intoto.jsonl").write_text("{}\n")
    digest = subprocess.run(
        ["bash", "-c", "cat attestations-out/* | sha256sum | cut -d' ' -f1"],
        cwd=workspace,
        capture_output=True,
        text=True,
    ).stdout.strip()
    script = step(release_workflow["jobs"]["github-release"], "Re-check")
    env = {
        "MANIFEST_SHA256": recorded["manifest-sha256"],
        "SUMS_SHA256": recorded["sums-sha256"],
        "CHART_SHA256": recorded["chart-sha256"],
        "TOOLCHAIN_SHA256": recorded["toolchain-sha256"],
        "ATTESTATIONS_SHA256": digest,
    }
    assert bash(script["run"], workspace, env).returncode == 0
    (workspace / "chart" / "dask-kubernetes-operator-2026.3.0.tgz").write_bytes(b"evil chart")
    assert bash(script["run"], workspace, env).returncode != 0
