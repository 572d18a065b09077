"""A lock file's verified statements, held to its text: every pin must be in the signed SBOM.

Why its own module: a signature over a lock file's sha256 proves the file is the one the
release workflow wrote; its CycloneDX statement also says which closure that is. `verify`
checks both, so a lock is vouched for only when its pins, hashes and options agree with the
SBOM signed with it (core/lockpins.py says what agreeing means; `check` applies the same rule
to the unsigned sbom.cdx.json beside the locks). `verify DIR` expands a release directory into
its distributions, chart and lock files here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dask_kubernetes_release.core.dists import (
    chart_version_of,
    is_distribution_name,
    release_project,
)
from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.files import read_limited
from dask_kubernetes_release.core.lockfiles import lock_kind, signed_lock_name
from dask_kubernetes_release.core.lockpins import lock_problems, lock_root
from dask_kubernetes_release.core.statements import CYCLONEDX_BOM

SIGNED_SBOM = "the signed SBOM"
_SHOWN = 3  # problems named in the verdict line; the rest are counted


def release_files(directory: Path) -> list[Path]:
    """What `verify DIR` checks: every distribution, chart and lock file directly in it (a
    GitHub release's assets may hold two projects' files; others, like manifest.json, are
    not signed and are left to `check`)."""
    if not directory.is_dir():
        raise UsageError(f"not a directory: {directory}")
    found = [
        path
        for path in sorted(directory.iterdir())
        if path.is_file()
        and (
            is_distribution_name(path.name)
            or chart_version_of(path.name) is not None
            or lock_kind(path.name) is not None
        )
    ]
    if not found:
        raise UsageError(
            f"nothing to verify (.whl, .tar.gz, chart .tgz, lock files) in {directory}"
        )
    return found


def _text(path: Path) -> str:
    try:
        return read_limited(path).decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None


def project_of(path: Path) -> str:
    """The project a release file belongs to: a lock file names it in its own pin."""
    if lock_kind(path.name) is None:
        return release_project(path.name)
    project = lock_root(path.name, _text(path))
    if project is None:
        raise UsageError(f"{path}: names no project of its own (not written by `release lock`)")
    return project


def signed_name(path: Path) -> str:
    """The name the file's statements must give: a lock file published under its project's
    prefix (`dask-kubernetes-release-requirements.txt`) was signed under its plain name. The
    project is the one the lock names, and the lock's bytes are what its signature covers."""
    if lock_kind(path.name) is None:
        return path.name
    return signed_lock_name(path.name, project_of(path))


def check_lock(path: Path, statements: list[dict[str, Any]]) -> None:
    """Raise CheckFailed unless the lock's text agrees with every SBOM signed for it."""
    text = _text(path)
    for doc in statements:
        if doc.get("predicateType") != CYCLONEDX_BOM:
            continue
        bom = doc.get("predicate")
        if not isinstance(bom, dict):
            raise CheckFailed("the SBOM statement carries no CycloneDX document")
        problems = lock_problems(path.name, text, bom, SIGNED_SBOM)
        if problems:
            more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
            raise CheckFailed("; ".join(problems[:_SHOWN]) + more)
