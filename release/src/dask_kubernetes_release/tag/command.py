"""Check everything a release needs, then create the annotated (signed if configured) tag.

Checks: VERSION is CalVer (YYYY.M.P) and newer than the latest tag; the work tree is clean and on
the default branch, level with its remote when one is configured; CHANGELOG.md has an entry for
VERSION; the chart's CRDs match the operator's, and Chart.yaml holds the version placeholder
(`release chart` writes VERSION into it at package time) with no image tag or digest pinned;
go/go.mod's module path ends in /vYEAR. With a Go module it also tags `go/vVERSION` on the same
commit, as Go finds a module in a subdirectory. It never pushes: it prints the push command that
starts the release workflow. With --dry-run it runs every check (the remote is still fetched) and
creates nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

# Standard library and the toolkit's stdlib-only modules here: `python3 -m release tag --help`
# answers from a fresh clone without the project environment. The checks (which read YAML and
# the chart) are imported by `run`.
from dask_kubernetes_release.core.errors import CheckFailed
from dask_kubernetes_release.core.git import Git
from dask_kubernetes_release.core.paths import repository_root
from dask_kubernetes_release.tag.version import CalVer

if TYPE_CHECKING:
    from dask_kubernetes_release.tag.checks import TagCheck, TagContext


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", metavar="VERSION", help="the release number, YYYY.M.P")
    parser.add_argument(
        "--repo", type=Path, help="the repository to tag (default: the clone you are in)"
    )
    parser.add_argument("--remote", default="origin", help="the remote to compare with and push to")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="run every check, create no tag (exit 1 if one fails)",
    )


def run_checks(ctx: TagContext, checks: tuple[TagCheck, ...] | None = None) -> list[str]:
    """Run every check (not just up to the first failure) and print one line each."""
    from dask_kubernetes_release.tag.checks import ALL_CHECKS

    failures: list[str] = []
    for item in ALL_CHECKS if checks is None else checks:
        try:
            note = item.check(ctx)
        except CheckFailed as exc:
            failures.append(f"{item.name}: {exc}")
            print(f"  FAIL  {item.name}: {exc}", flush=True)
        else:
            print(f"  ok    {item.name} ({note})", flush=True)
    return failures


def tag_message(ctx: TagContext) -> str:
    from dask_kubernetes_release.tag.checks import CHANGELOG, changelog_section

    text = (ctx.repo / CHANGELOG).read_text(encoding="utf-8")
    return f"dask-kubernetes {ctx.version}\n\n{changelog_section(text, ctx.version) or ''}\n"


def run(args: argparse.Namespace) -> int:
    from dask_kubernetes_release.tag.checks import GO_TAG_PREFIX, TagContext, go_module_path

    version = CalVer.parse(args.version)
    git = Git((repository_root() if args.repo is None else args.repo).resolve())
    git.ensure_repository()
    ctx = TagContext(git=git, version=version, remote=args.remote)
    print(f"Checking {git.repo} before tagging {version}:", flush=True)
    failures = run_checks(ctx)
    if failures:
        raise CheckFailed(f"not tagging {version}: " + "; ".join(failures))
    if args.dry_run:
        print(f"Dry run: every check passed; no tag {version} was created.")
        return 0
    sign = git.signing_configured()
    git.create_tag(str(version), tag_message(ctx), sign=sign)
    tags = [str(version)]
    module = go_module_path(git.repo)
    if module is not None:
        tags.append(f"{GO_TAG_PREFIX}{version}")
        git.create_tag(tags[-1], f"{module} {version}\n", sign=sign)
    kind = "signed annotated" if sign else "annotated (unsigned: no signing configured)"
    print(f"Created {kind} tag(s) {' '.join(tags)} at {git.head()[:12]}. Nothing was pushed.")
    print("Push them to start the release workflow:")
    print(f"  git push {args.remote} {' '.join(tags)}")
    return 0
