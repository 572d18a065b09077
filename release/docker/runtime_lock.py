"""Write the images' runtime requirements: the runtime subset of tests/requirements.lock.

Why a subset and not a second lock: one uv lock stays the single source of versions and hashes;
the image gets exactly the packages the runtime dependencies pull in (following the lock's
`# via` annotations), not the test tooling. The lock is read by the project's one lock reader
(dask_kubernetes_release.core.requirements), not parsed again here.

Why the roots come from pyproject.toml: its [project] dependencies (the operator) and the
extras in IMAGE_EXTRAS (the chart runs the gateway from the operator's image, and the gateway's
scheduler Pods run its preload from the Dask image, which installs the same file) are the one
place that names them; a second list here went stale once (the gateway was missing). Run after
re-locking or changing those dependencies:

    python release/docker/runtime_lock.py > release/docker/requirements.txt
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "tests" / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"
#: pyproject's extras the images serve besides the [project] dependencies.
IMAGE_EXTRAS = ("gateway",)

if str(ROOT / "release" / "src") not in sys.path:  # run as a script from a clone
    sys.path.insert(0, str(ROOT / "release" / "src"))

from dask_kubernetes_release.core.requirements import (  # noqa: E402 - after the path above
    PinnedEntry,
    RequirementsFile,
    read_requirements_file,
)


class RootsError(Exception):
    """pyproject.toml and the lock do not give a runtime root set (one line)."""


def _requirement(text: object) -> Requirement:
    try:
        return Requirement(str(text))
    except InvalidRequirement as exc:
        raise RootsError(f"pyproject.toml: not a requirement: {text!r} ({exc})") from None


def runtime_roots(project: Mapping[str, Any], extras: Iterable[str]) -> frozenset[str]:
    """Canonical names of [project] `dependencies` and of the `extras`; an extra that names the
    project itself (`NAME[other]`) brings in `other`'s requirements, not a package."""
    own = canonicalize_name(str(project.get("name", "")))
    optional: Mapping[str, Any] = project.get("optional-dependencies") or {}
    roots: set[str] = set()
    pending = [_requirement(text) for text in project.get("dependencies") or []]
    seen: set[str] = set()
    wanted = list(extras)
    while wanted or pending:
        if pending:
            requirement = pending.pop()
            if canonicalize_name(requirement.name) == own:
                wanted += sorted(requirement.extras)
            else:
                roots.add(canonicalize_name(requirement.name))
            continue
        extra = wanted.pop()
        if extra in seen:
            continue
        seen.add(extra)
        if extra not in optional:
            raise RootsError(f"pyproject.toml has no extra {extra!r}")
        pending += [_requirement(text) for text in optional[extra]]
    return frozenset(roots)


def runtime_subset(lock: RequirementsFile, roots: frozenset[str]) -> list[PinnedEntry]:
    """Entries reachable from `roots` through the lock's dependency edges; every root must be
    pinned (a root the lock lacks would silently be missing from the image)."""
    missing = roots - {entry.name for entry in lock.pins}
    if missing:
        raise RootsError(f"{LOCK.name} has not pinned: {', '.join(sorted(missing))}")
    wanted: set[str] = set(roots)
    changed = True
    while changed:
        changed = False
        for entry in lock.pins:
            if entry.name not in wanted and entry.via & wanted:
                wanted.add(entry.name)
                changed = True
    return [entry for entry in lock.pins if entry.name in wanted]


def render(entries: list[PinnedEntry]) -> str:
    header = [
        "# The operator and Dask images' runtime requirements, hash-pinned: pyproject.toml's",
        f"# dependencies and its {', '.join(IMAGE_EXTRAS)} extra. Generated from",
        "# tests/requirements.lock by release/docker/runtime_lock.py; do not edit.",
    ]
    body = [line for entry in entries for line in entry.lines()]
    return "\n".join([*header, *body]) + "\n"


def main() -> int:
    lock = read_requirements_file(LOCK.read_text(encoding="utf-8"))
    unread = [*lock.options, *lock.refused]
    if unread:
        print(f"runtime_lock: {LOCK.name}: cannot use {unread[0]}", file=sys.stderr)
        return 2
    try:
        project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8")).get("project") or {}
        entries = runtime_subset(lock, runtime_roots(project, IMAGE_EXTRAS))
    except tomllib.TOMLDecodeError as exc:
        print(f"runtime_lock: {PYPROJECT.name}: {exc}", file=sys.stderr)
        return 2
    except RootsError as exc:
        print(f"runtime_lock: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render(entries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
