"""The rehearsal's steps, in release.yml's order, each one a call into a release family.

Why calls, not `python -m release` processes: each family returns its result as a value (the
built paths, the manifest, `verify`'s verdicts), so the summary is made from those values, not
by re-reading another command's JSON from stdout. Only the test suites run as processes of
their own (pytest), as the workflow runs them. Each step names the release.yml job and command
it stands for; tests/release/pipeline/test_pipeline_follows_workflow.py holds the two in step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dask_kubernetes_release.core.dists import KEY_SUFFIX, TRUSTED_ROOT_NAME, chart_version_of
from dask_kubernetes_release.core.errors import CheckFailed
from dask_kubernetes_release.core.paths import TOOLKIT_SUBDIR, repository_root
from dask_kubernetes_release.manifest.records import Manifest
from dask_kubernetes_release.verify.report import Verdict

if TYPE_CHECKING:
    from dask_kubernetes_release.pipeline.keyless import Signing

LOCAL_KEY_NAME = "local-attestation-key"
UNIT = "pytest unit"
E2E = "pytest e2e"


@dataclass
class Outcome:
    name: str
    status: str  # "ok", "failed", "skipped"
    seconds: float = 0.0
    detail: str = ""


@dataclass
class PipelineResult:
    out: Path
    outcomes: list[Outcome] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    manifest: Manifest | None = None
    # The verifier (dask-kubernetes-release), released beside it in `out`/toolkit/.
    toolkit_verdicts: list[Verdict] = field(default_factory=list)
    toolkit_manifest: Manifest | None = None


@dataclass
class Stage:
    """What the steps share: the staging directory and where logs and the throwaway key go."""

    dir: Path
    logs: Path
    keydir: Path
    allow_dirty: bool
    sigstore: bool
    result: PipelineResult
    # Sign keylessly on the local Sigstore (when it is built and there is no ambient identity).
    local_sigstore: Signing | None = None

    @property
    def toolkit(self) -> Path:
        """Where the verifier's distributions are staged: one project per directory."""
        return self.dir / TOOLKIT_SUBDIR


@dataclass(frozen=True)
class Step:
    """One command of release.yml (`job` / `command`), rehearsed by `action`.

    `action` returns a note shown beside the passed step, or None; it raises UsageError or
    CheckFailed to stop the pipeline.
    """

    name: str
    job: str
    command: str  # the `python -m release` command, or UNIT / E2E for the pytest runs
    action: Callable[[Stage], str | None]
    skipped: str | None = None


def oidc_available() -> bool:
    return bool(os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")) and bool(
        os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    )


def distributions(directory: Path) -> list[Path]:
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and (p.name.endswith((".whl", ".tar.gz")) or chart_version_of(p.name))
    )


def _where(stage: Stage, toolkit: bool) -> Path:
    return stage.toolkit if toolkit else stage.dir


def _build(stage: Stage) -> None:
    from dask_kubernetes_release.build.command import build_distributions

    build_distributions(stage.dir, allow_dirty=stage.allow_dirty)


def _build_toolkit(stage: Stage) -> None:
    from dask_kubernetes_release.build.command import build_toolkit

    build_toolkit(stage.toolkit, allow_dirty=stage.allow_dirty)


def _manifest(toolkit: bool = False) -> Callable[[Stage], None]:
    def run(stage: Stage) -> None:
        from dask_kubernetes_release.manifest.command import write_manifest

        manifest = write_manifest(_where(stage, toolkit))
        if toolkit:
            stage.result.toolkit_manifest = manifest
        else:
            stage.result.manifest = manifest

    return run


def _lock(toolkit: bool = False) -> Callable[[Stage], None]:
    def run(stage: Stage) -> None:
        from dask_kubernetes_release.lock.command import write_lock

        write_lock(_where(stage, toolkit))

    return run


def _check(toolkit: bool = False) -> Callable[[Stage], str]:
    def run(stage: Stage) -> str:
        from dask_kubernetes_release.manifest.check import check_directory

        report = check_directory(_where(stage, toolkit))
        if not report.ok:
            raise CheckFailed(f"{report.problems[0]} ({len(report.problems)} problem(s))")
        return f"{len(report.verified)} file(s) match"

    return run


def _last_error(log: Path) -> str:
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith(("error:", "FAIL", "FAILED", "ERROR")) or " failed" in line:
            return line
    return lines[-1] if lines else "no output"


def _pytest(marker: str, slug: str) -> Callable[[Stage], None]:
    def run(stage: Stage) -> None:
        log = stage.logs / f"{slug}.log"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marker]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
        with log.open("ab") as sink:
            code = subprocess.run(
                [*command, "tests"],
                cwd=repository_root(),
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
            ).returncode
        if code != 0:
            raise CheckFailed(f"exit {code}: {_last_error(log)}")

    return run


def _chart(stage: Stage) -> str:
    from dask_kubernetes_release.build.chart import package

    package(stage.dir, stage.dir, None)
    return "image tag-pinned: no image is built locally; release.yml pins its digest"


def _attest(toolkit: bool = False) -> Callable[[Stage], str]:
    """Both projects are signed alike: Sigstore in Actions, else keylessly on the local Sigstore
    when it is built, else one throwaway key for both."""

    def run(stage: Stage) -> str:
        from dask_kubernetes_release.attest.command import attest
        from dask_kubernetes_release.attest.keygen import generate, public_path

        where = _where(stage, toolkit)
        if stage.sigstore:
            attest(where, sigstore=True)
            return "Sigstore (ambient OIDC identity)"
        if stage.local_sigstore is not None:
            from dask_kubernetes_release.pipeline import keyless

            return keyless.sign(stage.local_sigstore, where, stage.dir)
        key = stage.keydir / LOCAL_KEY_NAME
        public = public_path(key) if key.exists() else generate(key)
        attest(where, key=key)
        # Only the public half lands in --out (beside each project's files), never the private.
        shutil.copy2(public, where / public.name)
        return "throwaway local key; its public half is in --out" + (
            f"/{where.name}" if toolkit else ""
        )

    return run


def _verify(toolkit: bool = False) -> Callable[[Stage], str]:
    def run(stage: Stage) -> str:
        from dask_kubernetes_release.verify import command as verify

        where = _where(stage, toolkit)
        # The release directory: distributions, chart and lock files, checked against the
        # local Sigstore's trusted root when it signed, else against the local key.
        trusted_root = None
        key = None
        if stage.local_sigstore is not None:
            trusted_root = stage.dir / TRUSTED_ROOT_NAME
        elif not stage.sigstore:
            key = where / f"{LOCAL_KEY_NAME}{KEY_SUFFIX}"
        verdicts = verify.verify(
            verify.VerifyRequest(targets=(str(where),), key=key, trusted_root=trusted_root)
        )
        if toolkit:
            stage.result.toolkit_verdicts = verdicts
        else:
            stage.result.verdicts = verdicts
        failed = [v for v in verdicts if not v.ok]
        if failed:
            raise CheckFailed(failed[0].line())
        return f"{len(verdicts)} file(s) OK"

    return run


def _upload(toolkit: bool = False) -> Callable[[Stage], None]:
    def run(stage: Stage) -> None:
        where = _where(stage, toolkit)
        files = [str(p) for p in distributions(where) if not chart_version_of(p.name)]
        command = [sys.executable, "-m", "twine", "upload", "--attestations", *files]
        with (stage.logs / "upload.log").open("ab") as sink:
            code = subprocess.run(
                command, cwd=repository_root(), stdout=sink, stderr=subprocess.STDOUT
            ).returncode
        if code != 0:
            raise CheckFailed(f"twine upload: exit {code}")

    return run


# Jobs of release.yml the rehearsal cannot run here, and why (the test checks this list too).
NOT_REHEARSED = {
    "image": "no operator image is built or pushed locally (the chart stays tag-pinned)",
    "chart": "the chart is not pushed to ghcr.io",
    "publish": "nothing is published unless --upload is given inside GitHub Actions",
    "publish-toolkit": "the verifier is not published unless --upload is given inside Actions",
}


def signer_label(*, local_sigstore: bool) -> str:
    """How the attest steps sign, as the step names and the summary say it."""
    if oidc_available():
        return "Sigstore"
    return "Sigstore, local instance" if local_sigstore else "throwaway local key"


def plan(*, skip_tests: bool, upload: bool, local_sigstore: bool = False) -> list[Step]:
    """release.yml's commands in its order: build job, tests, attest job, github-release.

    The verifier (dask-kubernetes-release) goes through the same commands right after
    dask-kubernetes in each job, in its own directory (Stage.toolkit)."""
    no_tests = "--skip-tests was given" if skip_tests else None
    signer = signer_label(local_sigstore=local_sigstore)
    publish = (
        [
            Step("upload", "publish", "upload", _upload()),
            Step("upload-verifier", "publish-toolkit", "upload", _upload(toolkit=True)),
        ]
        if upload
        else []
    )
    return [
        Step("build", "build", "build", _build),
        Step("manifest", "build", "manifest", _manifest()),
        Step("lock (requirements, pylock, SBOM)", "build", "lock", _lock()),
        Step("check", "build", "check", _check()),
        Step("build-verifier (dask-kubernetes-release)", "build", "build", _build_toolkit),
        Step("manifest-verifier", "build", "manifest", _manifest(toolkit=True)),
        Step("lock-verifier", "build", "lock", _lock(toolkit=True)),
        Step("check-verifier", "build", "check", _check(toolkit=True)),
        Step("unit tests", "test", UNIT, _pytest("not e2e", "unit"), skipped=no_tests),
        Step("e2e on the local stand-in", "kind-e2e", E2E, _pytest("e2e", "e2e"), no_tests),
        Step("chart", "attest", "chart", _chart),
        Step(f"attest ({signer})", "attest", "attest", _attest()),
        Step(f"attest-verifier ({signer})", "attest", "attest", _attest(toolkit=True)),
        Step("verify", "attest", "verify", _verify()),
        Step("verify-verifier", "attest", "verify", _verify(toolkit=True)),
        *publish,
        Step("verify beside the release files", "github-release", "verify", _verify()),
        Step("verify-verifier beside its files", "github-release", "verify", _verify(True)),
        Step("manifest of the release", "github-release", "manifest", _manifest()),
        Step("check the release", "github-release", "check", _check()),
        Step("manifest-verifier of its release", "github-release", "manifest", _manifest(True)),
        Step("check-verifier release", "github-release", "check", _check(toolkit=True)),
    ]
