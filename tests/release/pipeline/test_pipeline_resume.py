"""`pipeline --from STEP` on stand-in steps (fast): it reuses what the passed steps wrote only
after re-checking every file against the sha256 recorded when its step passed, runs STEP and the
rest, and refuses in one line a changed or missing file, a skipped failure, other options, or
no failed run at all. A real resume over real staged distributions: test_pipeline.py."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.paths import repository_root
from dask_kubernetes_release.pipeline import command, resume
from dask_kubernetes_release.pipeline.steps import Outcome, PipelineResult, Stage, Step, plan


class Steps:
    """build, manifest, check (fails until `fixed`), attest; remembers which ones ran."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.fixed = False

    def _build(self, stage: Stage) -> None:
        self.ran.append("build")
        (stage.dir / "built.whl").write_text("wheel\n")

    def _manifest(self, stage: Stage) -> None:
        self.ran.append("manifest")
        (stage.dir / "sub").mkdir()
        (stage.dir / "sub" / "manifest.json").write_text("{}\n")

    def _check(self, stage: Stage) -> None:
        self.ran.append("check")
        (stage.dir / "half-written.txt").write_text("a failing step's leftovers\n")
        if not self.fixed:
            raise CheckFailed("the stand-in check failed")
        (stage.dir / "half-written.txt").unlink()

    def _attest(self, stage: Stage) -> None:
        self.ran.append("attest")
        assert (stage.dir / "built.whl").read_text() == "wheel\n"
        (stage.dir / "built.whl.attestation").write_text("signed\n")

    def plan(self, **_: object) -> list[Step]:
        return [
            Step("build", "build", "build", self._build),
            Step("manifest (of the build)", "build", "manifest", self._manifest),
            Step("check", "build", "check", self._check),
            Step("attest", "attest", "attest", self._attest),
        ]


def _args(out: Path, from_step: str | None = None, skip_tests: bool = True) -> argparse.Namespace:
    return argparse.Namespace(
        out=out,
        upload=False,
        skip_tests=skip_tests,
        allow_dirty=False,
        from_step=from_step,
        local_key=True,
    )


def _rehearse(args: argparse.Namespace) -> tuple[PipelineResult, list[tuple[str, Outcome]]]:
    seen: list[tuple[str, Outcome]] = []
    result = command.rehearse(args, lambda n, o: seen.append((n, o)) if o else None)
    return result, seen


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> Steps:
    stand_in = Steps()
    monkeypatch.setattr(command, "plan", stand_in.plan)
    return stand_in


@pytest.fixture
def failed(steps: Steps, tmp_path: Path) -> Path:
    """A run that stopped at `check`; returns --out."""
    out = tmp_path / "dist"
    with pytest.raises(CheckFailed, match=r"stopped at 'check'.*--from check` resumes"):
        _rehearse(_args(out))
    assert steps.ran == ["build", "manifest", "check"]
    assert resume.state_path(out).is_file() and not out.exists()
    steps.ran.clear()
    return out


def _staging(out: Path) -> Path:
    [kept] = out.parent.glob(f"{resume.staging_prefix(out)}*")
    return kept


def test_resume_reuses_the_checked_outputs_and_runs_the_rest(
    steps: Steps, failed: Path, tmp_path: Path
) -> None:
    steps.fixed = True
    result, seen = _rehearse(_args(failed, "check"))
    assert steps.ran == ["check", "attest"]
    assert sorted(p.relative_to(failed).as_posix() for p in failed.rglob("*") if p.is_file()) == [
        "built.whl",
        "built.whl.attestation",
        "sub/manifest.json",
    ]
    assert [o.status for o in result.outcomes] == ["ok"] * 4
    assert [o.detail for o in result.outcomes[:2]] == ["reused, re-checked"] * 2
    assert [name for name, _ in seen] == [
        "build", "manifest (of the build)", "check", "attest"
    ]  # fmt: skip
    # Nothing of either run is left beside --out.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist"]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda staged: staged.joinpath("built.whl").write_text("evil\n"), "built.whl has sha256"),
        (lambda staged: staged.joinpath("sub/manifest.json").unlink(), "manifest.json was written"),
    ],
    ids=["changed", "missing"],
)
def test_a_reused_output_that_changed_or_went_is_refused(
    steps: Steps, failed: Path, damage: object, reason: str
) -> None:
    steps.fixed = True
    damage(_staging(failed))  # type: ignore[operator]
    with pytest.raises(CheckFailed, match=reason) as caught:
        _rehearse(_args(failed, "check"))
    assert "\n" not in str(caught.value)
    assert steps.ran == [] and not failed.exists()
    # A fresh run is always possible, and clears the failed one.
    _rehearse(_args(failed))
    assert steps.ran == ["build", "manifest", "check", "attest"]
    assert not resume.state_path(failed).exists()
    assert [p.name for p in failed.parent.iterdir()] == ["dist"]


def test_resume_cannot_skip_the_step_that_failed(steps: Steps, failed: Path) -> None:
    steps.fixed = True
    with pytest.raises(CheckFailed, match=r"step 'check' did not pass .*resume from 'check'"):
        _rehearse(_args(failed, "attest"))
    assert steps.ran == []


def test_resume_from_an_earlier_step_restores_that_steps_outputs(
    steps: Steps, failed: Path
) -> None:
    steps.fixed = True
    _rehearse(_args(failed, "manifest"))
    assert steps.ran == ["manifest", "check", "attest"]  # manifest's mkdir would fail otherwise


def test_resume_needs_the_same_options(steps: Steps, failed: Path) -> None:
    with pytest.raises(CheckFailed, match=r"other options \(skip_tests\)"):
        _rehearse(_args(failed, "check", skip_tests=False))
    assert steps.ran == []


def test_nothing_to_resume_is_one_line(steps: Steps, tmp_path: Path) -> None:
    with pytest.raises(CheckFailed, match="nothing to resume"):
        _rehearse(_args(tmp_path / "dist", "check"))
    assert steps.ran == []


def test_an_unknown_step_is_unusable_input_naming_every_step(steps: Steps, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"the steps are: build, manifest, check, attest$"):
        _rehearse(_args(tmp_path / "dist", "chekc"))


def test_the_real_plans_step_names_are_unique_and_the_cli_lists_them(tmp_path: Path) -> None:
    ids = resume.step_ids(plan(skip_tests=False, upload=True))
    assert ids[:3] == ["build", "manifest", "lock"]
    assert {"unit", "e2e", "chart", "verify", "release-verify", "release-check"} <= set(ids)
    proc = subprocess.run(
        [sys.executable, "-m", "release", "pipeline", "--from", "nope", "--out", str(tmp_path)],
        cwd=repository_root(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "the steps are: build, manifest, lock, check, build-verifier," in proc.stderr


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_the_tree_state_changes_with_the_commit_or_an_uncommitted_change(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "a.txt").write_text("one\n")
    _git(repo, "add", "a.txt")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    before = resume.tree_state(repo)
    (repo / "a.txt").write_text("two\n")
    assert resume.tree_state(repo) != before
    (repo / "a.txt").write_text("one\n")
    assert resume.tree_state(repo) == before
    (repo / "new.txt").write_text("untracked\n")
    with_new = resume.tree_state(repo)
    assert with_new != before
    (repo / "new.txt").write_text("changed\n")
    assert resume.tree_state(repo) not in (before, with_new)
