"""Rehearse the release workflow locally, in release.yml's order:

  build, chart, manifest, lock, unit tests, e2e on the local stand-in, attest, verify + check,
  summary.

Each step runs as its own `python -m release ...` or pytest process, as the workflow runs it.
Work happens in a staging directory beside --out; only a pipeline that passed every step
replaces --out, so a failure never leaves half-written distributions behind. Attestations are
signed with Sigstore when an ambient OIDC identity exists (GitHub Actions), else with a
throwaway local key whose public half is written beside the distributions (the private half
never lands in --out).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dask_kubernetes_release.core.dists import chart_version_of
from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.paths import ROOT

LOCAL_KEY_NAME = "local-attestation-key"


@dataclass
class Step:
    """One stage of the rehearsal: command lines run in order, output captured to a log."""

    name: str
    commands: Callable[[Path], list[list[str]]]
    skipped: str | None = None
    after: Callable[[Path], object] | None = None
    keep_stdout: bool = False
    note: str = ""  # shown beside a step that passed


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
    verify_report: list[dict[str, object]] = field(default_factory=list)


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


def _oidc_available() -> bool:
    return bool(os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")) and bool(
        os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    )


def _release(*args: str) -> list[str]:
    return [sys.executable, "-m", "release", *args]


def _pytest(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]


def _distributions(stage: Path) -> list[str]:
    return sorted(
        str(p)
        for p in stage.iterdir()
        if p.is_file() and (p.name.endswith((".whl", ".tar.gz")) or chart_version_of(p.name))
    )


def _attest_steps(keydir: Path) -> list[Step]:
    if _oidc_available():
        return [
            Step("attest (Sigstore)", lambda s: [_release("attest", str(s), "--sigstore")]),
            Step(
                "verify",
                lambda s: [_release("verify", *_distributions(s), "--json")],
                keep_stdout=True,
            ),
        ]
    key = keydir / LOCAL_KEY_NAME
    public = f"{LOCAL_KEY_NAME}.pub"
    return [
        Step(
            "attest (throwaway local key)",
            lambda s: [_release("keygen", str(key)), _release("attest", str(s), "--key", str(key))],
            after=lambda s: shutil.copy2(keydir / public, s / public),
        ),
        Step(
            "verify",
            lambda s: [_release("verify", *_distributions(s), "--key", str(s / public), "--json")],
            keep_stdout=True,
        ),
    ]


def plan(args: argparse.Namespace, keydir: Path) -> list[Step]:
    allow_dirty = ["--allow-dirty"] if args.allow_dirty else []
    no_tests = "--skip-tests was given" if args.skip_tests else None
    return [
        Step("build", lambda s: [_release("build", "--out", str(s), *allow_dirty)]),
        # No image is built locally, so the chart is tag-pinned here (its output says so);
        # release.yml passes --image-digest with the digest it pushed.
        Step(
            "chart",
            lambda s: [_release("chart", str(s))],
            note="image tag-pinned: no image is built locally; release.yml pins its digest",
        ),
        Step("manifest", lambda s: [_release("manifest", str(s))]),
        Step("lock (requirements, pylock, SBOM)", lambda s: [_release("lock", str(s))]),
        Step("unit tests", lambda s: [_pytest("-m", "not e2e", "tests")], skipped=no_tests),
        Step(
            "e2e on the local stand-in", lambda s: [_pytest("-m", "e2e", "tests")], skipped=no_tests
        ),
        *_attest_steps(keydir),
        Step("check", lambda s: [_release("check", str(s))]),
    ]


def _run_commands(commands: list[list[str]], log: Path, stdout: Path | None) -> int:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    with log.open("ab") as sink:
        for command in commands:
            sink.write(("$ " + " ".join(command) + "\n").encode())
            sink.flush()
            out_sink = stdout.open("ab") if stdout else None
            try:
                code = subprocess.run(
                    command,
                    cwd=ROOT,
                    stdout=out_sink or sink,
                    stderr=sink if out_sink else subprocess.STDOUT,
                    env=env,
                    check=False,
                ).returncode
            finally:
                if out_sink:
                    out_sink.close()
            if code != 0:
                return code
    return 0


def _last_error(*logs: Path) -> str:
    lines = [
        ln.strip()
        for log in logs
        if log.exists()
        for ln in log.read_text(errors="replace").splitlines()
        if ln.strip()
    ]
    for line in reversed(lines):
        if line.startswith(("error:", "FAIL", "FAILED", "ERROR")) or " failed" in line:
            return line
    return lines[-1] if lines else "no output"


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


def _verify_report(stdout: Path) -> list[dict[str, object]]:
    try:
        document = json.loads(stdout.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    if isinstance(document, dict):
        document = document.get("files", [document])
    return [d for d in document if isinstance(d, dict)] if isinstance(document, list) else []


def _run_step(step: Step, stage: Path, logs: Path, result: PipelineResult) -> Outcome:
    slug = step.name.split(" ")[0]
    log, stdout = logs / f"{slug}.log", logs / f"{slug}.stdout"
    started = time.monotonic()
    code = _run_commands(step.commands(stage), log, stdout if step.keep_stdout else None)
    outcome = Outcome(step.name, "ok", time.monotonic() - started, step.note)
    if code != 0:
        outcome.status = "failed"
        outcome.detail = f"exit {code}: {_last_error(stdout, log)}"
        return outcome
    if step.after:
        step.after(stage)
    if step.keep_stdout:
        result.verify_report = _verify_report(stdout)
    return outcome


def rehearse(
    args: argparse.Namespace, on_step: Callable[[str, Outcome | None], None]
) -> PipelineResult:
    out = (args.out if args.out.is_absolute() else ROOT / args.out).resolve()
    if args.upload and os.environ.get("GITHUB_ACTIONS") != "true":
        raise UsageError(
            "--upload is only allowed inside GitHub Actions (Trusted Publishing); "
            "the local rehearsal never publishes"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    logs = Path(tempfile.mkdtemp(prefix="release-pipeline-logs-"))
    keydir = Path(tempfile.mkdtemp(prefix="release-pipeline-key-"))
    result = PipelineResult(out=out)
    steps = plan(args, keydir)
    if args.upload:
        steps.append(
            Step(
                "upload",
                lambda s: [
                    [sys.executable, "-m", "twine", "upload", "--attestations", *_distributions(s)]
                ],
            )
        )
    try:
        for step in steps:
            on_step(step.name, None)
            if step.skipped:
                outcome = Outcome(step.name, "skipped", detail=step.skipped)
            else:
                outcome = _run_step(step, stage, logs, result)
            result.outcomes.append(outcome)
            on_step(step.name, outcome)
            if outcome.status == "failed":
                raise CheckFailed(
                    f"pipeline stopped at '{step.name}' ({outcome.detail}); logs kept in {logs}"
                )
        _publish(stage, out)
        shutil.rmtree(logs, ignore_errors=True)
        return result
    finally:
        shutil.rmtree(keydir, ignore_errors=True)
        shutil.rmtree(stage, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    from dask_kubernetes_release.pipeline import report

    with report.live_progress() as on_step:
        result = rehearse(args, on_step)
    report.print_summary(result)
    return 0
