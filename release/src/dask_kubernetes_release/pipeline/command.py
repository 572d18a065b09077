"""Rehearse the release workflow locally, in release.yml's order:

  build, manifest, lock, check (the build job); unit tests; e2e on the local stand-in; chart,
  attest, verify (the attest job); verify, manifest, check over the whole release (the
  github-release job); then a summary.

Work happens in a staging directory beside --out; only a pipeline that passed every step
replaces --out, so a failure never leaves half-written distributions behind. A failed run keeps
that directory and records what each passed step left in it; `--from STEP` re-checks those files
and goes on from STEP (`resume`). Attestations are
signed with Sigstore when an ambient OIDC identity exists (GitHub Actions); else keylessly on
the local Sigstore when it is built (pipeline/keyless.py; its trusted root lands in --out as
trusted_root.json); else, or with --local-key, with a throwaway local key whose public half is
written beside the distributions (the private half never lands in --out).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.paths import repository_root
from dask_kubernetes_release.pipeline import resume
from dask_kubernetes_release.pipeline.steps import (
    Outcome,
    PipelineResult,
    Stage,
    Step,
    oidc_available,
    plan,
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("dist"), help="where it all lands")
    parser.add_argument(
        "--allow-dirty", action="store_true", help="build even with uncommitted changes"
    )
    parser.add_argument(
        "--skip-tests",
        action="store_true",
        help="skip the unit and e2e steps (the summary says so; not a full rehearsal)",
    )
    parser.add_argument(
        "--upload",
        action="store_true",
        help="upload to PyPI at the end (only inside GitHub Actions, with Trusted Publishing)",
    )
    parser.add_argument(
        "--local-key",
        action="store_true",
        help="sign with a throwaway local key even when the local Sigstore is built",
    )
    parser.add_argument(
        "--from",
        dest="from_step",
        metavar="STEP",
        default=None,
        help="resume a failed run at STEP, reusing (after re-checking) what the steps before wrote",
    )


def _publish(stage: Path, out: Path) -> None:
    """Replace `out` with the finished staging directory in two renames."""
    backup = out.with_name(out.name + ".previous")
    if backup.exists():
        shutil.rmtree(backup)
    if out.exists():
        out.rename(backup)
    stage.rename(out)
    if backup.exists():
        shutil.rmtree(backup)


def _run_step(step: Step, step_id: str, stage: Stage) -> Outcome:
    """Run one step in-process; what it prints goes to its log, its failure to the outcome."""
    log = stage.logs / f"{step_id}.log"
    started = time.monotonic()
    try:
        with (
            log.open("a", encoding="utf-8") as sink,
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            note = step.action(stage)
    except (UsageError, CheckFailed) as exc:
        return Outcome(step.name, "failed", time.monotonic() - started, str(exc))
    except OSError as exc:  # e.g. a full disk: the step failed, the pipeline stops cleanly
        detail = f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
        return Outcome(step.name, "failed", time.monotonic() - started, detail)
    return Outcome(step.name, "ok", time.monotonic() - started, note or "")


def rehearse(
    args: argparse.Namespace, on_step: Callable[[str, Outcome | None], None]
) -> PipelineResult:
    out = (args.out if args.out.is_absolute() else repository_root() / args.out).resolve()
    if args.upload and os.environ.get("GITHUB_ACTIONS") != "true":
        raise UsageError(
            "--upload is only allowed inside GitHub Actions (Trusted Publishing); "
            "the local rehearsal never publishes"
        )
    built = None
    if not oidc_available() and not args.local_key:
        from dask_kubernetes_release.pipeline.keyless import built_instance

        built = built_instance()
    steps = plan(skip_tests=args.skip_tests, upload=args.upload, local_sigstore=built is not None)
    ids = resume.step_ids(steps)
    start = resume.start_index(steps, args.from_step) if args.from_step else 0
    options = {
        "skip_tests": bool(args.skip_tests),
        "upload": bool(args.upload),
        "allow_dirty": bool(args.allow_dirty),
        "sigstore": oidc_available(),
        "local_sigstore": built is not None,
    }
    previous = resume.load(out) if start else None
    if previous is not None:
        resume.check_resumable(previous, steps, start, options)
    else:
        resume.discard(out)  # a fresh run: forget an earlier failed one
    out.parent.mkdir(parents=True, exist_ok=True)
    result = PipelineResult(out=out)
    staging = Path(tempfile.mkdtemp(prefix=resume.staging_prefix(out), dir=out.parent))
    reused_key = resume.reusable_keydir(previous, steps, start) if previous else None
    stage = Stage(
        dir=staging,
        logs=Path(tempfile.mkdtemp(prefix="release-pipeline-logs-")),
        keydir=reused_key or Path(tempfile.mkdtemp(prefix=resume.KEYDIR_PREFIX)),
        allow_dirty=args.allow_dirty,
        sigstore=options["sigstore"],
        result=result,
    )
    if built is not None:
        from dask_kubernetes_release.pipeline.keyless import Signing

        stage.local_sigstore = Signing(built)
    state = resume.ResumeState(
        options=options,
        tree=previous.tree if previous else resume.tree_state(),
        staging=str(staging),
        keydir=str(stage.keydir),
    )
    kept = False
    try:
        if previous is not None:
            resume.restore(out, previous, start, staging)
            resume.discard(out, keep=stage.keydir)  # its files are ours now, re-checked
            state.snapshots = previous.snapshots[:start]
            for outcome in previous.outcomes()[:start]:
                reused = Outcome(
                    outcome.name,
                    outcome.status,
                    outcome.seconds,
                    "; ".join(filter(None, [outcome.detail, "reused, re-checked"])),
                )
                result.outcomes.append(reused)
                state.passed.append(asdict(outcome))
                on_step(reused.name, reused)
        for step, step_id in list(zip(steps, ids, strict=True))[start:]:
            on_step(step.name, None)
            if step.skipped:
                outcome = Outcome(step.name, "skipped", detail=step.skipped)
            else:
                outcome = _run_step(step, step_id, stage)
            result.outcomes.append(outcome)
            on_step(step.name, outcome)
            if outcome.status == "failed":
                hint = ""
                if state.passed:  # something to reuse: keep it, and say how
                    resume.record(out, state)
                    kept = True
                    hint = f"; after a fix, `python3 -m release pipeline --from {step_id}` resumes"
                raise CheckFailed(
                    f"pipeline stopped at '{step.name}' ({outcome.detail}){hint}; "
                    f"logs kept in {stage.logs}"
                )
            state.passed.append(asdict(outcome))
            state.snapshots.append(resume.snapshot(staging))
        _publish(stage.dir, out)
        shutil.rmtree(stage.logs, ignore_errors=True)
        return result
    finally:
        if stage.local_sigstore is not None:
            stage.local_sigstore.close()
        if not kept:
            if stage.keydir != reused_key:  # a refused resume leaves the failed run's key be
                shutil.rmtree(stage.keydir, ignore_errors=True)
            shutil.rmtree(stage.dir, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    from dask_kubernetes_release.pipeline import report

    with report.live_progress() as on_step:
        result = rehearse(args, on_step)
    report.print_summary(result)
    return 0
