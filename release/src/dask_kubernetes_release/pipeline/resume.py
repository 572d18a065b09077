"""`pipeline --from STEP`: go on after a failed step without redoing the 30 minutes before it.

A failed rehearsal keeps its staging directory and records, beside --out, what every passed step
left in it (each file's sha256 after the last passed step), the commit and working-tree state it
ran on, its options and where its throwaway key is. Resuming trusts none of it blindly: the
recorded files are copied into a fresh staging directory, each copy hashed and compared with the
record; a missing or changed file, another commit or tree, other options, or a step before STEP
that did not pass stops it in one line (exit 1). Only then do STEP and the steps after it run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dask_kubernetes_release.core.digests import sha256_file
from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.files import write_atomically
from dask_kubernetes_release.core.git import Git
from dask_kubernetes_release.core.paths import repository_root
from dask_kubernetes_release.pipeline.steps import Outcome, Step

FORMAT = 1
KEYDIR_PREFIX = "release-pipeline-key-"


def state_path(out: Path) -> Path:
    """Where a failed run records how to resume it: beside --out, git-ignored for dist/."""
    return out.with_name(f".{out.name}.resume.json")


def staging_prefix(out: Path) -> str:
    return f".{out.name}.staging-"


def step_ids(steps: list[Step]) -> list[str]:
    """The names --from takes: a step's first word; a repeat gets its job's last word in front
    (release.yml's github-release job re-runs verify, manifest and check: `release-verify`)."""
    ids: list[str] = []
    for step in steps:
        word = step.name.split(" ")[0]
        ids.append(word if word not in ids else f"{step.job.rsplit('-', 1)[-1]}-{word}")
    if len(set(ids)) != len(ids):
        raise AssertionError(f"two pipeline steps share a name: {ids}")
    return ids


def start_index(steps: list[Step], wanted: str) -> int:
    """Where --from STEP starts; an unknown name is unusable input naming every step."""
    ids = step_ids(steps)
    if wanted not in ids:
        raise UsageError(f"--from {wanted!r} is not a step; the steps are: {', '.join(ids)}")
    return ids.index(wanted)


def tree_state(root: Path | None = None) -> dict[str, str]:
    """The commit and a digest of every uncommitted change: what the build and tests ran on."""
    root = root or repository_root()
    git = Git(root)
    changes = hashlib.sha256(git.out("diff", "HEAD", "--binary").encode())
    for name in git.out("ls-files", "--others", "--exclude-standard").splitlines():
        path = root / name
        changes.update(f"\0{name}\0{sha256_file(path) if path.is_file() else ''}".encode())
    return {"commit": git.out("rev-parse", "HEAD"), "changes": changes.hexdigest()}


def snapshot(directory: Path) -> dict[str, str]:
    """sha256 of every file under `directory`, by relative path."""
    return {
        path.relative_to(directory).as_posix(): sha256_file(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@dataclass
class ResumeState:
    """What a failed run leaves for `--from`; written only by `record`, read only by `load`."""

    options: dict[str, bool]
    tree: dict[str, str]
    staging: str
    keydir: str
    passed: list[dict[str, Any]] = field(default_factory=list)
    #: after passed[i]: each file of the staging directory and its sha256
    snapshots: list[dict[str, str]] = field(default_factory=list)
    format: int = FORMAT

    def outcomes(self) -> list[Outcome]:
        return [Outcome(**entry) for entry in self.passed]


def record(out: Path, state: ResumeState) -> None:
    write_atomically(state_path(out), json.dumps(asdict(state), indent=2, sort_keys=True) + "\n")


def load(out: Path) -> ResumeState:
    path = state_path(out)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != FORMAT:
            raise ValueError(f"format {raw.get('format')!r}")
        return ResumeState(**raw)
    except FileNotFoundError:
        raise CheckFailed(
            f"nothing to resume: no failed run of this pipeline recorded {path.name} beside "
            f"{out} (run it without --from)"
        ) from None
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise CheckFailed(f"cannot resume: {path} is not a pipeline resume record: {exc}") from None


def _owned_staging(out: Path, state: ResumeState) -> Path | None:
    """The recorded staging directory, only if it is one of ours beside --out."""
    staging = Path(state.staging)
    if staging.parent == out.parent and staging.name.startswith(staging_prefix(out)):
        return staging
    return None


def _owned_keydir(state: ResumeState) -> Path | None:
    keydir = Path(state.keydir)
    if keydir.parent == Path(tempfile.gettempdir()) and keydir.name.startswith(KEYDIR_PREFIX):
        return keydir
    return None


def discard(out: Path, keep: Path | None = None) -> None:
    """Forget a failed run: its record, and the staging directory and key (unless `keep`)."""
    path = state_path(out)
    if not path.exists():
        return
    try:
        state = load(out)
    except CheckFailed:
        path.unlink(missing_ok=True)
        return
    for kept in (_owned_staging(out, state), _owned_keydir(state)):
        if kept is not None and kept != keep:
            shutil.rmtree(kept, ignore_errors=True)
    path.unlink(missing_ok=True)


def check_resumable(
    state: ResumeState, steps: list[Step], start: int, options: dict[str, bool]
) -> None:
    """Everything before `start` passed in the recorded run, with these options, on this tree."""
    ids = step_ids(steps)
    if state.options != options:
        differing = sorted(k for k in options if state.options.get(k) != options[k])
        raise CheckFailed(
            f"cannot resume: the failed run had other options ({', '.join(differing)}); "
            "give the same ones, or run without --from"
        )
    now = tree_state()
    if state.tree != now:
        raise CheckFailed(
            f"cannot resume: the checkout changed since the failed run (commit "
            f"{state.tree.get('commit', '?')[:12]} then, {now['commit'][:12]} now, or uncommitted "
            "changes); run without --from"
        )
    if len(state.snapshots) != len(state.passed):
        raise CheckFailed("cannot resume: the resume record is inconsistent; run without --from")
    for index, (step_id, step) in enumerate(zip(ids[:start], steps[:start], strict=True)):
        entry = state.passed[index] if index < len(state.passed) else {}
        if entry.get("name") != step.name or entry.get("status") not in {"ok", "skipped"}:
            raise CheckFailed(
                f"cannot resume from {ids[start]!r}: step {step_id!r} did not pass in the failed "
                f"run; resume from {step_id!r}"
            )


def restore(out: Path, state: ResumeState, start: int, fresh: Path) -> dict[str, str]:
    """Copy the files the steps before `start` left into `fresh`, proving each copy has the
    sha256 recorded when its step passed; return that record."""
    staging = _owned_staging(out, state)
    if staging is None or not staging.is_dir():
        raise CheckFailed(
            f"cannot resume: the failed run's staging directory {state.staging} is gone; "
            "run without --from"
        )
    files = state.snapshots[start - 1]
    for name, digest in files.items():
        source, target = staging / name, fresh / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            raise CheckFailed(f"cannot resume: the record names {name!r}, outside the staging dir")
        if not source.is_file():
            raise CheckFailed(f"cannot resume: {source} was written by a passed step and is gone")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        actual = sha256_file(target)
        if actual != digest:
            raise CheckFailed(
                f"cannot resume: {source} has sha256 {actual}, not the {digest} recorded when "
                "its step passed"
            )
    return files


def reusable_keydir(state: ResumeState, steps: list[Step], start: int) -> Path | None:
    """The failed run's throwaway key, when an attest step before `start` signed with it and
    one from `start` on must sign with the same key (both projects share one key)."""
    attests = [i for i, step in enumerate(steps) if step.command == "attest"]
    signed_before = any(i < start for i in attests)
    signs_after = any(i >= start for i in attests)
    keydir = _owned_keydir(state)
    keyless = state.options.get("sigstore") or state.options.get("local_sigstore")
    needed = signed_before and signs_after and not keyless
    if needed and (keydir is None or not keydir.is_dir()):
        first = step_ids(steps)[attests[0]]
        raise CheckFailed(
            f"cannot resume: the failed run's throwaway key is gone; resume from {first!r}"
        )
    return keydir if keydir is not None and keydir.is_dir() else None
