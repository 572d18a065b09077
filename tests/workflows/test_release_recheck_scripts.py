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
CHART = "dask-kubernetes-operator-2026.3.0.tgz"
# The verifier's own distributions, in dist/toolkit/ (one project per directory).
TOOLKIT = "dask-kubernetes-release"
TOOLKIT_WHEEL = "dask_kubernetes_release-2026.3.0-py3-none-any.whl"
TOOLKIT_SDIST = "dask_kubernetes_release-2026.3.0.tar.gz"
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


def manifest(workspace: Path, directory: str = "dist") -> None:
    proc = bash(f"python -m release manifest {directory}", workspace, {})
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def pristine(
    tmp_path_factory: pytest.TempPathFactory,
    release_workflow: dict[str, Any],
    make_dist: MakeDist,
) -> tuple[Path, dict[str, str]]:
    """A workspace after the build job: dist/ with its manifest, and the job's outputs."""
    workspace = tmp_path_factory.mktemp("build-job")
    dist = workspace / "dist"
    dist.mkdir()
    make_dist(dist, WHEEL, padding=24_000)
    make_dist(dist, SDIST, padding=27_000)
    (dist / "build-toolchain.json").write_text('{"what": "the build job\'s toolchain record"}\n')
    manifest(workspace)
    toolkit = dist / "toolkit"
    toolkit.mkdir()
    make_dist(toolkit, TOOLKIT_WHEEL, name=TOOLKIT, padding=11_000)
    make_dist(toolkit, TOOLKIT_SDIST, name=TOOLKIT, padding=12_000)
    (toolkit / "build-toolchain.json").write_text('{"what": "the verifier\'s toolchain"}\n')
    manifest(workspace, "dist/toolkit")
    outputs = workspace.parent / "github_output"
    outputs.touch()
    record = step(release_workflow["jobs"]["build"], "Record digests")
    proc = bash(record["run"], workspace, {"GITHUB_OUTPUT": str(outputs)})
    assert proc.returncode == 0, proc.stderr
    recorded = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    kinds = {"manifest-sha256", "sums-sha256", "toolchain-sha256"}
    assert set(recorded) == kinds | {f"toolkit-{kind}" for kind in kinds}
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
        for name in ("test", "kind-e2e", "image", "attest", "publish", "publish-toolkit")
    }
    assert len(scripts) == 1, "one script, tested below, guards every job"


def test_untouched_artifact_passes(
    built: tuple[Path, dict[str, str]], release_workflow: dict[str, Any]
) -> None:
    workspace, recorded = built
    proc = recheck(workspace, recorded, release_workflow, "attest")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dist/SHA256SUMS: OK" in proc.stdout
    assert "dist/toolkit/SHA256SUMS: OK" in proc.stdout


@pytest.mark.parametrize("fresh_manifest", [False, True])
def test_a_swapped_verifier_wheel_is_refused(
    built: tuple[Path, dict[str, str]],
    release_workflow: dict[str, Any],
    make_dist: MakeDist,
    fresh_manifest: bool,
) -> None:
    """The verifier is what users trust to check everything else: swapped in dist/toolkit/
    (alone, or with a regenerated manifest), the publish-toolkit job must refuse it."""
    workspace, recorded = built
    make_dist(workspace / "dist" / "toolkit", TOOLKIT_WHEEL, name=TOOLKIT, padding=10_999)
    if fresh_manifest:
        manifest(workspace, "dist/toolkit")
    proc = recheck(workspace, recorded, release_workflow, "publish-toolkit")
    assert proc.returncode != 0, proc.stdout + proc.stderr
    if fresh_manifest:
        assert "dist/toolkit/SHA256SUMS: FAILED" in proc.stdout
    else:
        assert TOOLKIT_WHEEL in proc.stdout + proc.stderr


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
def _attest_job_outputs(workspace: Path, release_workflow: dict[str, Any]) -> dict[str, str]:
    """Run the attest job's own collect script on a dist/ with a chart and its attestations."""
    dist = workspace / "dist"
    (dist / CHART).write_bytes(b"chart" * 99)
    for name in (WHEEL, SDIST, CHART):
        (dist / f"{name}.intoto.jsonl").write_text(f'{{"for": "{name}"}}\n')
    for name in (WHEEL, SDIST):
        (dist / f"{name}.publish.attestation").write_text("{}\n")
    for name in (TOOLKIT_WHEEL, TOOLKIT_SDIST):
        (dist / "toolkit" / f"{name}.intoto.jsonl").write_text(f'{{"for": "{name}"}}\n')
        (dist / "toolkit" / f"{name}.publish.attestation").write_text("{}\n")
    outputs = workspace / "attest_output"
    collect = step(release_workflow["jobs"]["attest"], "Collect")
    proc = bash(collect["run"], workspace, {"GITHUB_OUTPUT": str(outputs)})
    assert proc.returncode == 0, proc.stderr
    recorded = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert set(recorded) == {"attestations-sha256", "chart-sha256", "toolkit-attestations-sha256"}
    assert len(list((workspace / "toolkit-attestations-out").iterdir())) == 4
    assert sorted(p.name for p in (workspace / "chart-out").iterdir()) == [CHART]
    assert f"{CHART}.intoto.jsonl" in {p.name for p in (workspace / "attestations-out").iterdir()}
    # What the downstream jobs download: the chart artifact lands in chart/, dist/ is the build's.
    (workspace / "chart-out").rename(workspace / "chart")
    for leftover in dist.glob(f"*{CHART}*"):
        leftover.unlink()
    for leftover in dist.glob("*.intoto.jsonl"):
        leftover.unlink()
    for leftover in dist.glob("*.publish.attestation"):
        leftover.unlink()
    for suffix in ("*.intoto.jsonl", "*.publish.attestation"):
        for leftover in (dist / "toolkit").glob(suffix):
            leftover.unlink()
    return recorded


@pytest.mark.parametrize("job", ["chart", "github-release"])
def test_a_chart_swapped_after_attest_is_refused(
    built: tuple[Path, dict[str, str]], release_workflow: dict[str, Any], job: str
) -> None:
    """The chart job (before `helm push`) and github-release check the attest job's digest."""
    workspace, recorded = built
    known = {**recorded, **_attest_job_outputs(workspace, release_workflow)}
    script = step(release_workflow["jobs"][job], "Re-check")
    assert script["env"]["CHART_SHA256"] == "${{ needs.attest.outputs.chart-sha256 }}"
    env = {
        key: known[value.split(".outputs.")[1].removesuffix(" }}")]
        for key, value in script["env"].items()
    }
    proc = bash(script["run"], workspace, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (workspace / "chart" / CHART).write_bytes(b"chart" * 98 + b"evil!")
    assert bash(script["run"], workspace, env).returncode != 0


@pytest.mark.parametrize(
    ("reference", "pushed"),
    [
        ("ghcr.io/dask/dask-kubernetes-operator@sha256:" + "ab" * 32, True),
        ("ghcr.io/evil/dask-kubernetes-operator@sha256:" + "ab" * 32, False),
        ("ghcr.io/dask/dask-kubernetes-operator@sha256:abc", False),
        ("", False),
    ],
)
def test_the_image_job_hands_on_only_a_digest_of_its_own_repository(
    built: tuple[Path, dict[str, str]],
    release_workflow: dict[str, Any],
    tmp_path: Path,
    reference: str,
    pushed: bool,
) -> None:
    """The push step runs with a stand-in `docker` (no daemon here) that reports `reference`."""
    workspace, _ = built
    job = release_workflow["jobs"]["image"]
    push = next(s for s in job["steps"] if s.get("id") == "push")
    bin_dir, calls = tmp_path / "bin", tmp_path / "docker-calls"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        f'if [ "$1" = inspect ]; then printf "%s\\n" "{reference}"; fi\n'
    )
    fake.chmod(0o755)
    outputs = tmp_path / "github_output"
    env = {
        "GITHUB_OUTPUT": str(outputs),
        "IMAGE_REPOSITORY": job["env"]["IMAGE_REPOSITORY"],
        "PATH": os.pathsep.join(
            [str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]]
        ),
    }
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", push["run"]],
        cwd=workspace,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT), "DASK_K8S_NO_BOOTSTRAP": "1"},
        capture_output=True,
        text=True,
    )
    logged = calls.read_text().splitlines()
    tag = "ghcr.io/dask/dask-kubernetes-operator:2026.3.0"
    assert logged[:2] == [
        f"build --file release/docker/Dockerfile --tag {tag} .",
        f"push {tag}",
    ], "the image is tagged with the wheel's own version"
    written = outputs.read_text() if outputs.exists() else ""
    if pushed:
        assert proc.returncode == 0, proc.stderr
        assert written == f"digest={reference.split('@')[1]}\n"
    else:
        assert proc.returncode != 0
        assert written == "", "no digest is handed on"
