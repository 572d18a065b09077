"""Rehearse the release workflow locally, in release.yml's order:

  build, manifest, lock, check (the build job); unit tests; e2e on the local stand-in; chart,
  attest, verify (the attest job); verify, manifest, check over the whole release (the
  github-release job); then a summary.

Work happens in a staging directory beside --out; only a pipeline that passed every step
replaces --out, so a failure never leaves half-written distributions behind. Attestations are
signed with Sigstore when an ambient OIDC identity exists (GitHub Actions), else with a
throwaway local key whose public half is written beside the distributions (the private half
never lands in --out).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.paths import repository_root
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


def _run_step(step: Step, stage: Stage) -> Outcome:
    """Run one step in-process; what it prints goes to its log, its failure to the outcome."""
    log = stage.logs / f"{step.name.split(' ')[0]}.log"
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
    out.parent.mkdir(parents=True, exist_ok=True)
    result = PipelineResult(out=out)
    stage = Stage(
        dir=Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent)),
        logs=Path(tempfile.mkdtemp(prefix="release-pipeline-logs-")),
        keydir=Path(tempfile.mkdtemp(prefix="release-pipeline-key-")),
        allow_dirty=args.allow_dirty,
        sigstore=oidc_available(),
        result=result,
    )
    try:
        for step in plan(skip_tests=args.skip_tests, upload=args.upload):
            on_step(step.name, None)
            if step.skipped:
                outcome = Outcome(step.name, "skipped", detail=step.skipped)
            else:
                outcome = _run_step(step, stage)
            result.outcomes.append(outcome)
            on_step(step.name, outcome)
            if outcome.status == "failed":
                raise CheckFailed(
                    f"pipeline stopped at '{step.name}' ({outcome.detail}); "
                    f"logs kept in {stage.logs}"
                )
        _publish(stage.dir, out)
        shutil.rmtree(stage.logs, ignore_errors=True)
        return result
    finally:
        shutil.rmtree(stage.keydir, ignore_errors=True)
        shutil.rmtree(stage.dir, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    from dask_kubernetes_release.pipeline import report

    with report.live_progress() as on_step:
        result = rehearse(args, on_step)
    report.print_summary(result)
    return 0
