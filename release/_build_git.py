"""What a reproducible build needs from git: a clean tree and the commit's timestamp.

A build of uncommitted changes cannot be reproduced by anyone else, and the commit time (not
the clock) is what makes two builds of one commit identical (`SOURCE_DATE_EPOCH`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from release._errors import UsageError


def _git(source: Path, *args: str) -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(source), *args], check=False, capture_output=True, text=True
        )
    except FileNotFoundError:
        raise UsageError("git is not installed") from None
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1:] or ["failed"]
        raise UsageError(f"git {args[0]} in {source}: {reason[0]}")
    return result.stdout


def uncommitted_changes(source: Path) -> list[str]:
    """Modified, staged or untracked (and not ignored) paths, as `git status` names them."""
    return _git(source, "status", "--porcelain", "--untracked-files=normal").splitlines()


def commit_timestamp(source: Path) -> int:
    """Seconds since the epoch of HEAD's committer date."""
    return int(_git(source, "log", "-1", "--format=%ct").strip())


def require_clean(source: Path) -> None:
    changes = uncommitted_changes(source)
    if changes:
        shown = ", ".join(line[3:] for line in changes[:3]) + (" ..." if len(changes) > 3 else "")
        raise UsageError(
            f"work tree has {len(changes)} uncommitted change(s) ({shown}); "
            "commit them or pass --allow-dirty"
        )
