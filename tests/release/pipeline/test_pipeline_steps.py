"""The pipeline's engine on stand-in steps (fast): values flow from steps into the result, a
failing step stops it with its own one-line reason, and --out changes only after every step
passed. The real steps run in test_pipeline.py beside this file."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from dask_kubernetes_release.core.errors import CheckFailed
from dask_kubernetes_release.core.paths import repository_root
from dask_kubernetes_release.pipeline import command, resume
from dask_kubernetes_release.pipeline.steps import Outcome, PipelineResult, Stage, Step
from dask_kubernetes_release.verify.report import Verdict


def _args(out: Path, from_step: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(
        out=out,
        upload=False,
        skip_tests=True,
        allow_dirty=False,
        from_step=from_step,
        local_key=True,
    )


def _write(stage: Stage) -> str:
    (stage.dir / "built.txt").write_text("built\n")
    print("this goes to the step's log, not the terminal")
    return "wrote built.txt"


def _verdicts(stage: Stage) -> None:
    stage.result.verdicts = [Verdict("built.txt", reason="stand-in verdict")]


def _fails(stage: Stage) -> None:
    raise CheckFailed("the stand-in check failed")


def _disk_full(stage: Stage) -> None:
    raise OSError(28, "No space left on device", str(stage.dir / "x"))


def _rehearse(
    monkeypatch: pytest.MonkeyPatch, out: Path, steps: list[Step]
) -> tuple[list[tuple[str, Outcome | None]], PipelineResult]:
    monkeypatch.setattr(command, "plan", lambda **_: steps)
    seen: list[tuple[str, Outcome | None]] = []
    result = command.rehearse(_args(out), lambda name, outcome: seen.append((name, outcome)))
    return seen, result


def test_values_flow_and_out_is_replaced_only_at_the_end(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dist"
    steps = [
        Step("write", "build", "build", _write),
        Step("verify", "attest", "verify", _verdicts),
        Step("tests", "test", "pytest unit", _fails, skipped="--skip-tests was given"),
    ]
    seen, result = _rehearse(monkeypatch, out, steps)
    assert [o.status for _, o in seen if o] == ["ok", "ok", "skipped"]
    assert result.outcomes[0].detail == "wrote built.txt"
    assert result.verdicts == [Verdict("built.txt", reason="stand-in verdict")]
    assert (out / "built.txt").read_text() == "built\n"
    assert "step's log" not in capsys.readouterr().out
    assert not [p for p in tmp_path.iterdir() if "staging" in p.name]


@pytest.mark.parametrize(
    ("action", "reason"),
    [(_fails, "the stand-in check failed"), (_disk_full, "No space left on device: ")],
)
def test_a_failing_step_stops_with_its_reason_and_out_is_untouched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, action: object, reason: str
) -> None:
    out = tmp_path / "dist"
    out.mkdir()
    (out / "previous.txt").write_text("kept\n")
    never: list[str] = []

    def after(stage: Stage) -> None:
        never.append("ran")

    steps = [
        Step("write", "build", "build", _write),
        Step("check", "build", "check", action),  # type: ignore[arg-type]
        Step("after", "attest", "verify", after),
    ]
    with pytest.raises(CheckFailed, match=rf"pipeline stopped at 'check' \({reason}") as caught:
        _rehearse(monkeypatch, out, steps)
    logs = Path(str(caught.value).rsplit("logs kept in ", 1)[1])
    assert (logs / "write.log").read_text().startswith("this goes to the step's log")
    shutil.rmtree(logs)
    assert never == []
    assert sorted(p.name for p in out.iterdir()) == ["previous.txt"]
    # What the passed step wrote is kept, beside --out, for `--from check`; never in --out.
    [kept] = [p for p in tmp_path.iterdir() if "staging" in p.name]
    assert (kept / "built.txt").read_text() == "built\n"
    assert "--from check" in str(caught.value)
    resume.discard(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist"]


def test_the_staging_directory_beside_dist_leaves_the_tree_clean() -> None:
    """The default --out is dist/ in the clone; its staging sibling must not make the second
    project's build (the verifier's, after dask-kubernetes's) refuse a dirty tree."""
    root = repository_root()
    staging = Path(tempfile.mkdtemp(prefix=".dist.staging-", dir=root))
    try:
        (staging / "dask_kubernetes-1.0.tar.gz").write_bytes(b"built")
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=root, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert staging.name not in status.stdout
    finally:
        shutil.rmtree(staging)
