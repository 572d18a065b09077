"""The one way the toolkit asks git anything: each question one `git` call, never a write but `tag`.

Why a wrapper: build (a clean tree, the commit time that makes builds reproducible), provenance
(commit, ref, remote) and tag (every pre-tag check) read the same repository; one place turns
git's exit codes into plain answers (None for "not configured") and into one-line errors of the
kind the caller asks for (`failure`: a build refuses input, a tag check fails).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from dask_kubernetes_release.core.errors import CheckFailed, UsageError


@dataclass(frozen=True)
class Git:
    repo: Path
    failure: type[UsageError] | type[CheckFailed] = CheckFailed

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ["git", "-C", str(self.repo), *argv], capture_output=True, text=True, check=False
            )
        except FileNotFoundError:
            raise UsageError("git is not installed") from None

    def out(self, *argv: str) -> str:
        """stdout of a git command that must succeed."""
        proc = self._run(*argv)
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise self.failure(f"git {' '.join(argv)} in {self.repo} failed: {detail}")
        return proc.stdout.strip()

    def maybe(self, *argv: str) -> str | None:
        """stdout of a git query, or None when git says the thing does not exist."""
        try:
            proc = self._run(*argv)
        except UsageError:
            return None
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
            raise self.failure(f"git status in {self.repo} failed: {proc.stderr.strip()}")
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

    def commit_timestamp(self) -> int:
        """Seconds since the epoch of HEAD's committer date (a build's SOURCE_DATE_EPOCH)."""
        return int(self.out("log", "-1", "--format=%ct"))

    def require_clean(self) -> None:
        """A build of uncommitted changes cannot be reproduced by anyone else."""
        changes = self.status()
        if changes:
            shown = ", ".join(changes[:3]) + (" ..." if len(changes) > 3 else "")
            raise self.failure(
                f"work tree has {len(changes)} uncommitted change(s) ({shown}); "
                "commit them or pass --allow-dirty"
            )

    def signing_configured(self) -> bool:
        """Sign when the maintainer asked for signed tags or set up a signing key."""
        gpg_sign = (self.config("tag.gpgSign") or "").lower() in {"true", "yes", "on", "1"}
        return gpg_sign or self.config("user.signingkey") is not None

    def create_tag(self, name: str, message: str, *, sign: bool) -> None:
        # verbatim: the changelog's `### Added` headings are not comments to strip.
        mode = "--sign" if sign else "--annotate"
        self.out("tag", mode, "--cleanup=verbatim", name, "--message", message)
