"""`python -m release pipeline` on a fresh clone: everything lands in --out, checked and attested.

The unit and e2e steps are skipped here (--skip-tests): this suite *is* those steps, and the
pipeline running the suite that runs the pipeline would never end. CI and the README's main
command run the full rehearsal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dask_kubernetes_release.core.lockfiles import (
    LOCK_NAMES,
    PYLOCK_NAME,
    REQUIREMENTS_NAME,
    SBOM_NAME,
)

pytestmark = pytest.mark.slow


def _release(
    clone: Path, *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "DASK_K8S_VENV": str(Path(sys.prefix)), **(env or {})}
    environ.pop("ACTIONS_ID_TOKEN_REQUEST_URL", None)
    environ.pop("GITHUB_ACTIONS", None)
    return subprocess.run(
        [sys.executable, "-m", "release", *map(str, args)],
        cwd=clone,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.fixture(scope="module")
def clone(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("pipeline") / "repo"
    subprocess.run(["git", "clone", "-q", str(repo_root), str(target)], check=True)
    return target


@pytest.fixture(scope="module")
def rehearsal(clone: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = clone.parent / "out"
    # The throwaway key on purpose: tests/release/keyless/test_keyless_pipeline.py rehearses
    # keyless signing on the local Sigstore, which the pipeline prefers when it is built.
    return _release(clone, "pipeline", "--skip-tests", "--local-key", "--out", str(out)), out


def test_pipeline_produces_checked_attested_distributions(
    rehearsal: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, out = rehearsal
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = sorted(p.name for p in out.iterdir())
    wheels = [n for n in names if n.endswith(".whl")]
    sdists = [n for n in names if n.endswith(".tar.gz")]
    assert len(wheels) == 1 and len(sdists) == 1, names
    for required in (
        "manifest.json",
        "SHA256SUMS",
        "requirements.txt",
        "pylock.toml",
        "sbom.cdx.json",
        "local-attestation-key.pub",
    ):
        assert required in names
    charts = [n for n in names if n.endswith(".tgz")]
    assert len(charts) == 1 and charts[0].startswith("dask-kubernetes-operator-"), names
    for dist in wheels + sdists + charts:
        assert f"{dist}.intoto.jsonl" in names
    for lock in LOCK_NAMES:  # the lock files users install from are signed too
        assert f"{lock}.intoto.jsonl" in names
    assert "local-attestation-key" not in names, "the private key must never land in --out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert {f["filename"] for f in manifest["files"]} == set(wheels + sdists)
    assert {f["filename"] for f in manifest["locks"]} == set(LOCK_NAMES)
    assert [c["filename"] for c in manifest["charts"]] == charts
    assert "image tag-pinned" in proc.stdout, "the local chart must say it is not digest-pinned"
    for step in ("build", "chart", "manifest", "lock", "attest", "verify", "check"):
        assert step in proc.stdout
    assert "skipped" in proc.stdout
    assert "sha256" in proc.stdout.lower()


def test_pipeline_releases_the_verifier_beside_it(
    rehearsal: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """dask-kubernetes-release goes through the same steps, in out/toolkit/ (one project per
    directory), with a hash-pinned requirements.txt a security team installs from."""
    proc, out = rehearsal
    assert proc.returncode == 0, proc.stdout + proc.stderr
    toolkit = out / "toolkit"
    names = sorted(p.name for p in toolkit.iterdir())
    dists = [n for n in names if n.endswith((".whl", ".tar.gz"))]
    assert sorted(n.rsplit(".", 1)[-1] for n in dists) == ["gz", "whl"], names
    assert all(n.startswith("dask_kubernetes_release-") for n in dists), names
    for dist in dists:
        assert f"{dist}.intoto.jsonl" in names
    assert "local-attestation-key.pub" in names and "local-attestation-key" not in names
    manifest = json.loads((toolkit / "manifest.json").read_text())
    assert manifest["project"]["name"] == "dask-kubernetes-release"
    assert {f["filename"] for f in manifest["files"]} == set(dists)
    assert {f["filename"] for f in manifest["locks"]} == {REQUIREMENTS_NAME, PYLOCK_NAME, SBOM_NAME}
    requirements = (toolkit / REQUIREMENTS_NAME).read_text()
    assert "pip install --require-hashes -r requirements.txt" in requirements
    assert "\nsigstore==" in requirements and "\ndask==" not in requirements
    assert not [p for p in out.iterdir() if p.name.startswith("dask_kubernetes_release-")]
    for step in ("build-verifier", "lock-verifier", "attest-verifier", "verify-verifier"):
        assert step in proc.stdout
    assert "dask-kubernetes-release" in proc.stdout  # its files table in the summary


def test_a_verifier_wheel_tampered_after_attest_fails_check_and_verify(
    rehearsal: tuple[subprocess.CompletedProcess[str], Path], clone: Path, tmp_path: Path
) -> None:
    _, out = rehearsal
    toolkit = shutil.copytree(out / "toolkit", tmp_path / "toolkit")
    wheel = next(toolkit.glob("*.whl"))
    key = str(toolkit / "local-attestation-key.pub")
    assert _release(clone, "verify", wheel, "--key", key).returncode == 0
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    check = _release(clone, "check", str(toolkit))
    assert check.returncode == 1, check.stdout + check.stderr
    assert wheel.name in check.stdout + check.stderr
    verify = _release(clone, "verify", wheel, "--key", key)
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert "the file's sha256 differs from the attested one" in verify.stdout


def test_pipeline_output_verifies_again_independently(
    rehearsal: tuple[subprocess.CompletedProcess[str], Path], clone: Path
) -> None:
    _, out = rehearsal
    check = _release(clone, "check", str(out))
    assert check.returncode == 0, check.stdout + check.stderr
    dists = sorted(str(p) for p in out.iterdir() if p.name.endswith((".whl", ".tar.gz", ".tgz")))
    verify = _release(clone, "verify", *dists, "--key", str(out / "local-attestation-key.pub"))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.count("OK ") == 3
    assert "OK dask-kubernetes-operator-" in verify.stdout
    # The release directory as a whole: its distributions, chart and every lock file.
    whole = _release(clone, "verify", str(out), "--key", str(out / "local-attestation-key.pub"))
    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert whole.stdout.count("OK ") == 3 + len(LOCK_NAMES)


def test_failing_step_stops_and_leaves_previous_output_intact(clone: Path, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    out.mkdir()
    (out / "previous.txt").write_text("kept\n")
    (clone / "README.md").write_text("dirty\n")
    try:
        proc = _release(clone, "pipeline", "--skip-tests", "--out", str(out))
    finally:
        subprocess.run(["git", "checkout", "-q", "--", "README.md"], cwd=clone, check=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "pipeline stopped at 'build'" in proc.stderr
    logs = Path(proc.stderr.strip().rsplit("logs kept in ", 1)[1])
    assert logs.is_dir()
    shutil.rmtree(logs)  # kept for the maintainer; this test made it
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["previous.txt"]
    assert not [p for p in tmp_path.iterdir() if "staging" in p.name]


def test_upload_is_refused_outside_github_actions(clone: Path, tmp_path: Path) -> None:
    proc = _release(clone, "pipeline", "--skip-tests", "--upload", "--out", str(tmp_path / "d"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "only allowed inside GitHub Actions" in proc.stderr
    assert not (tmp_path / "d").exists()


def test_a_failed_pipeline_resumes_from_the_failed_step(clone: Path, tmp_path: Path) -> None:
    """A real failure late in the run (the chart step refuses a SOURCE_DATE_EPOCH that is not a
    number), then `--from chart`: the distributions built before are reused only after each is
    re-hashed (a changed wheel is refused), and the finished release checks and verifies."""
    out = tmp_path / "dist"
    failed = _release(
        clone,
        *("pipeline", "--skip-tests", "--local-key", "--out", out),
        env={"SOURCE_DATE_EPOCH": "not-a-number"},
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "pipeline stopped at 'chart'" in failed.stderr and "--from chart`" in failed.stderr
    shutil.rmtree(failed.stderr.strip().rsplit("logs kept in ", 1)[1])
    assert not out.exists()
    [staged] = tmp_path.glob(".dist.staging-*")
    wheel = next(staged.glob("dask_kubernetes-*.whl"))
    original = wheel.read_bytes()
    wheel.write_bytes(original + b"\0")
    refused = _release(
        clone, "pipeline", "--skip-tests", "--local-key", "--out", out, "--from", "chart"
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stderr.strip().count("\n") == 0 and "Traceback" not in refused.stderr
    assert f"{wheel.name} has sha256" in refused.stderr and not out.exists()

    wheel.write_bytes(original)
    resumed = _release(
        clone, "pipeline", "--skip-tests", "--local-key", "--out", out, "--from", "chart"
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.count("reused, re-checked") == 10  # build .. e2e (skipped)
    assert not list(tmp_path.glob(".dist.*"))  # neither the staging dirs nor the record
    check = _release(clone, "check", str(out))
    assert check.returncode == 0, check.stdout + check.stderr
    dists = sorted(str(p) for p in out.iterdir() if p.name.endswith((".whl", ".tar.gz", ".tgz")))
    verify = _release(clone, "verify", *dists, "--key", str(out / "local-attestation-key.pub"))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.count("OK ") == 3
