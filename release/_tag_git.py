"""The few git questions the tag command asks, each one `git` call, never a write but `tag`.

Why a wrapper: every check reads the same repository; one place turns git's exit codes into
plain answers (None for "not configured") and into one-line errors.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from release._errors import CheckFailed, UsageError


@dataclass(frozen=True)
class Git:
    repo: Path

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(self.repo), *argv], capture_output=True, text=True, check=False
        )

    def out(self, *argv: str) -> str:
        """stdout of a git command that must succeed."""
        proc = self._run(*argv)
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise CheckFailed(f"git {' '.join(argv)} failed: {detail}")
        return proc.stdout.strip()

    def maybe(self, *argv: str) -> str | None:
        """stdout of a git query, or None when git says the thing does not exist."""
        proc = self._run(*argv)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def ensure_repository(self) -> None:
        if not self.repo.is_dir() or self.maybe("rev-parse", "--is-inside-work-tree") != "true":
            raise UsageError(f"{self.repo} is not a git work tree")

    def config(self, key: str) -> str | None:
        return self.maybe("config", "--get", key) or None

    def tags(self) -> list[str]:
        return self.out("tag", "--list").splitlines()

    def status(self) -> list[str]:
        """Changed paths, tracked or untracked (ignored files do not count)."""
        proc = self._run("status", "--porcelain", "-z", "--untracked-files=normal")
        if proc.returncode != 0:
            raise CheckFailed(f"git status failed: {proc.stderr.strip()}")
        listing = proc.stdout  # not stripped: the first record may start with a space
        # Each record is `XY PATH` (a rename adds its source as a second record, skipped).
        paths: list[str] = []
        skip_next = False
        for record in listing.split("\0"):
            if skip_next or len(record) < 4:
                skip_next = False
                continue
            skip_next = record[0] in "RC"
            paths.append(record[3:])
        return paths

    def current_branch(self) -> str | None:
        return self.maybe("symbolic-ref", "--quiet", "--short", "HEAD")

    def remote_url(self, remote: str) -> str | None:
        return self.config(f"remote.{remote}.url")

    def remote_default_branch(self, remote: str) -> str | None:
        ref = self.maybe("symbolic-ref", "--quiet", "--short", f"refs/remotes/{remote}/HEAD")
        return ref.removeprefix(f"{remote}/") if ref else None

    def fetch(self, remote: str) -> None:
        self.out("fetch", "--quiet", "--no-tags", remote)

    def ahead_behind(self, upstream: str) -> tuple[int, int]:
        counts = self.out("rev-list", "--left-right", "--count", f"HEAD...{upstream}")
        ahead, behind = counts.split()
        return int(ahead), int(behind)

    def head(self) -> str:
        return self.out("rev-parse", "HEAD")

    def signing_configured(self) -> bool:
        """Sign when the maintainer asked for signed tags or set up a signing key."""
        gpg_sign = (self.config("tag.gpgSign") or "").lower() in {"true", "yes", "on", "1"}
        return gpg_sign or self.config("user.signingkey") is not None

    def create_tag(self, name: str, message: str, *, sign: bool) -> None:
        # verbatim: the changelog's `### Added` headings are not comments to strip.
        mode = "--sign" if sign else "--annotate"
        self.out("tag", mode, "--cleanup=verbatim", name, "--message", message)
