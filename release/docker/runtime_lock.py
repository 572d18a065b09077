"""Write the operator image's requirements: the runtime subset of tests/requirements.lock.

Why a subset and not a second lock: one uv lock stays the single source of versions and hashes;
the image gets exactly the packages the runtime dependencies pull in (following the lock's
`# via` annotations), not the test tooling. Run after re-locking:

    python release/docker/runtime_lock.py > release/docker/requirements.txt
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "tests" / "requirements.lock"
# pyproject.toml's [project] dependencies: what the operator needs at run time.
RUNTIME_ROOTS = frozenset({"dask", "distributed", "kopf", "kr8s", "pyyaml", "rich", "click"})
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class LockEntry:
    name: str
    lines: list[str] = field(default_factory=list)
    parents: set[str] = field(default_factory=set)


def parse_lock(text: str) -> list[LockEntry]:
    entries: list[LockEntry] = []
    for line in text.splitlines():
        match = _NAME.match(line)
        if match:
            entries.append(LockEntry(normalize(match[1]), [line]))
        elif entries and line.startswith("    --hash="):
            entries[-1].lines.append(line)
        elif entries and line.strip().startswith("#"):
            parent = line.strip().lstrip("#").strip().removeprefix("via").strip()
            if parent and not parent.startswith("-r "):
                entries[-1].parents.add(normalize(parent))
    return entries


def runtime_subset(entries: list[LockEntry]) -> list[LockEntry]:
    """Entries reachable from the runtime roots through the lock's dependency edges."""
    wanted = set(RUNTIME_ROOTS)
    changed = True
    while changed:
        changed = False
        for entry in entries:
            if entry.name not in wanted and entry.parents & wanted:
                wanted.add(entry.name)
                changed = True
    return [entry for entry in entries if entry.name in wanted]


def render(entries: list[LockEntry]) -> str:
    header = [
        "# The operator image's runtime requirements, hash-pinned. Generated from",
        "# tests/requirements.lock by release/docker/runtime_lock.py; do not edit.",
    ]
    body = [line for entry in entries for line in entry.lines]
    return "\n".join([*header, *body]) + "\n"


def main() -> int:
    sys.stdout.write(render(runtime_subset(parse_lock(LOCK.read_text(encoding="utf-8")))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
