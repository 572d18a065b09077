"""Write the operator image's requirements: the runtime subset of tests/requirements.lock.

Why a subset and not a second lock: one uv lock stays the single source of versions and hashes;
the image gets exactly the packages the runtime dependencies pull in (following the lock's
`# via` annotations), not the test tooling. The lock is read by the project's one lock reader
(dask_kubernetes_release.core.requirements), not parsed again here. Run after re-locking:

    python release/docker/runtime_lock.py > release/docker/requirements.txt
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "tests" / "requirements.lock"
# pyproject.toml's [project] dependencies: what the operator needs at run time.
RUNTIME_ROOTS = frozenset({"dask", "distributed", "kopf", "kr8s", "pyyaml", "rich", "click"})

if str(ROOT / "release" / "src") not in sys.path:  # run as a script from a clone
    sys.path.insert(0, str(ROOT / "release" / "src"))

from dask_kubernetes_release.core.requirements import (  # noqa: E402 - after the path above
    PinnedEntry,
    RequirementsFile,
    read_requirements_file,
)


def runtime_subset(lock: RequirementsFile) -> list[PinnedEntry]:
    """Entries reachable from the runtime roots through the lock's dependency edges."""
    wanted: set[str] = set(RUNTIME_ROOTS)
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
        "# The operator image's runtime requirements, hash-pinned. Generated from",
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
    sys.stdout.write(render(runtime_subset(lock)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
