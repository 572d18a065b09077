"""What must hold before a release tag is created: one small class per check.

Why separate classes (as in sigstore's verify policies): each check says what it protects and
fails with one line of reason, and the command composes them in the order a maintainer fixes
things. A check returns a short note on success and raises CheckFailed otherwise.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dask_kubernetes_release.build.chart import CHART_DIR, PLACEHOLDER
from dask_kubernetes_release.core.errors import CheckFailed
from dask_kubernetes_release.core.git import Git
from dask_kubernetes_release.core.yamldoc import load_mapping
from dask_kubernetes_release.tag.version import CalVer, latest

CHANGELOG = Path("CHANGELOG.md")
CRDS_MODULE = "dask_kubernetes.operator.crds"
#: The Go module (`go/`): Go finds a module in a subdirectory by tags named `go/vVERSION`.
GO_MOD = Path("go") / "go.mod"
GO_TAG_PREFIX = "go/v"


@dataclass(frozen=True)
class TagContext:
    git: Git
    version: CalVer
    remote: str

    @property
    def repo(self) -> Path:
        return self.git.repo


class TagCheck(Protocol):
    name: str

    def check(self, ctx: TagContext) -> str: ...


class NewerThanLatestTag:
    """Releases only move forward: a lower or equal number would confuse pip and users."""

    name = "newer than the latest tag"

    def check(self, ctx: TagContext) -> str:
        newest = latest(ctx.git.tags())
        if newest is None:
            return "first release tag"
        if ctx.version <= newest:
            raise CheckFailed(f"{ctx.version} is not newer than the latest tag {newest}")
        return f"latest is {newest}"


class CleanTree:
    """The tag must name exactly the committed sources; a dirty build is not that."""

    name = "clean work tree"

    def check(self, ctx: TagContext) -> str:
        changes = ctx.git.status()
        if changes:
            first = changes[0]
            raise CheckFailed(
                f"work tree has {len(changes)} uncommitted change(s), e.g. {first}; commit or "
                "remove them"
            )
        return "nothing uncommitted"


class OnDefaultBranch:
    """Releases come from the reviewed default branch, never from a side branch."""

    name = "on the default branch"

    def check(self, ctx: TagContext) -> str:
        default = (
            (ctx.git.remote_default_branch(ctx.remote) if ctx.git.remote_url(ctx.remote) else None)
            or ctx.git.config("init.defaultBranch")
            or "main"
        )
        branch = ctx.git.current_branch()
        if branch is None:
            raise CheckFailed(f"HEAD is detached; check out {default} first")
        if branch != default:
            raise CheckFailed(f"on branch {branch}, not the default branch {default}")
        return branch


class UpToDateWithRemote:
    """Tag what everyone sees: not behind (missing fixes) nor ahead (unreviewed pushes)."""

    name = "up to date with the remote"

    def check(self, ctx: TagContext) -> str:
        if ctx.git.remote_url(ctx.remote) is None:
            return f"no remote {ctx.remote!r} configured"
        branch = ctx.git.current_branch() or "HEAD"
        ctx.git.fetch(ctx.remote)
        upstream = f"{ctx.remote}/{branch}"
        if ctx.git.maybe("rev-parse", "--verify", "--quiet", f"refs/remotes/{upstream}") is None:
            raise CheckFailed(f"{upstream} does not exist; push {branch} first")
        ahead, behind = ctx.git.ahead_behind(upstream)
        if behind:
            raise CheckFailed(f"{branch} is {behind} commit(s) behind {upstream}; pull first")
        if ahead:
            raise CheckFailed(f"{branch} is {ahead} commit(s) ahead of {upstream}; push first")
        return f"at {upstream}"


def changelog_section(text: str, version: CalVer) -> str | None:
    """The body under `## [VERSION]` up to the next `## ` heading, or None without a heading."""
    heading = re.compile(rf"^## \[{re.escape(str(version))}\](?:\s.*)?$")
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if heading.match(line):
            body: list[str] = []
            for following in lines[index + 1 :]:
                if following.startswith("## "):
                    break
                body.append(following)
            return "\n".join(body).strip()
    return None


class ChangelogEntry:
    """Users read what changed before upgrading; an empty entry tells them nothing."""

    name = "changelog entry"

    def check(self, ctx: TagContext) -> str:
        path = ctx.repo / CHANGELOG
        if not path.is_file():
            raise CheckFailed(f"{CHANGELOG} is missing")
        section = changelog_section(path.read_text(encoding="utf-8"), ctx.version)
        if section is None:
            raise CheckFailed(f"{CHANGELOG} has no '## [{ctx.version}]' entry")
        if not section:
            raise CheckFailed(f"{CHANGELOG}'s '## [{ctx.version}]' entry is empty")
        return f"{len(section.splitlines())} line(s)"


class CrdsInSync:
    """The chart ships copies of the operator's CRDs; a stale copy breaks upgrades."""

    name = "CRDs and chart in sync"

    def check(self, ctx: TagContext) -> str:
        # The repository's own sources, not whichever copy is installed in this environment.
        env = {**os.environ, "PYTHONPATH": str(ctx.repo / "src")}
        proc = subprocess.run(
            [sys.executable, "-m", CRDS_MODULE, "check", str(CHART_DIR)],
            cwd=ctx.repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0:
            return f"python -m {CRDS_MODULE} check passed"
        output = (proc.stderr + proc.stdout).strip()
        if f"No module named {CRDS_MODULE}" in output:
            raise CheckFailed(f"cannot check CRDs: module {CRDS_MODULE} is missing")
        last = output.splitlines()[-1] if output else f"exit {proc.returncode}"
        raise CheckFailed(f"CRDs and chart out of sync: {last}")


class ChartVersion:
    """One source for versions: the tag. `release chart` writes it into Chart.yaml's version and
    appVersion (the image tag follows appVersion), so the committed chart must hold only the
    placeholder there and pin no image tag or digest of its own: anything else would drift."""

    name = "chart version"

    def check(self, ctx: TagContext) -> str:
        chart = load_mapping(ctx.repo / CHART_DIR / "Chart.yaml")
        for key in ("version", "appVersion"):
            found = str(chart.get(key, "")).strip()
            if found != PLACEHOLDER:
                raise CheckFailed(
                    f"{CHART_DIR / 'Chart.yaml'} {key} is {found or 'unset'}, not the placeholder "
                    f"{PLACEHOLDER} (`release chart` writes {ctx.version} at package time)"
                )
        values = load_mapping(ctx.repo / CHART_DIR / "values.yaml")
        image = values.get("image")
        image = image if isinstance(image, dict) else {}
        for key in ("tag", "digest"):
            if image.get(key, "") != "":
                raise CheckFailed(
                    f"{CHART_DIR / 'values.yaml'} pins image.{key} {image[key]!r}; leave it empty "
                    f"(the release's chart pulls {ctx.version} by the digest it pushed)"
                )
        return f"placeholders in Chart.yaml; {ctx.version} is written when the chart is packaged"


def go_module_path(repo: Path) -> str | None:
    """The `module` path of go/go.mod, or None when the repository has no Go module."""
    path = repo / GO_MOD
    if not path.is_file():
        return None
    found = re.search(r"^module\s+(\S+)", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    if found is None:
        raise CheckFailed(f"{GO_MOD} names no module")
    return found[1]


class GoModuleMajor:
    """The Go module is tagged go/vVERSION too, and Go takes VERSION's year as its major version:
    the module path must end in /vYEAR, or `go get` refuses the tag."""

    name = "Go module version"

    def check(self, ctx: TagContext) -> str:
        module = go_module_path(ctx.repo)
        if module is None:
            return f"no {GO_MOD}: no Go module to tag"
        wanted = f"/v{ctx.version.year}"
        if not module.endswith(wanted):
            raise CheckFailed(
                f"{GO_MOD} is module {module}, but the tag {GO_TAG_PREFIX}{ctx.version} needs a "
                f"path ending in {wanted} (docs/RELEASING.md: moving the module to a new year)"
            )
        if f"{GO_TAG_PREFIX}{ctx.version}" in ctx.git.tags():
            raise CheckFailed(f"the tag {GO_TAG_PREFIX}{ctx.version} exists already")
        return f"{module} gets {GO_TAG_PREFIX}{ctx.version}"


ALL_CHECKS: tuple[TagCheck, ...] = (
    NewerThanLatestTag(),
    CleanTree(),
    OnDefaultBranch(),
    UpToDateWithRemote(),
    ChangelogEntry(),
    CrdsInSync(),
    ChartVersion(),
    GoModuleMajor(),
)
