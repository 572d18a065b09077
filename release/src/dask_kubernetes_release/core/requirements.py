"""Reading the hash-locked `release/requirements.lock` (uv's universal `pip compile` output).

The build environment may only contain what this lock pins, with its hashes; this module picks
the lock's entry for a package on this interpreter so it can be handed to `pip --require-hashes`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from dask_kubernetes_release.core.errors import UsageError


@dataclasses.dataclass(frozen=True)
class LockedPackage:
    name: NormalizedName
    version: str
    hashes: tuple[str, ...]

    def requirement_line(self) -> str:
        hashes = " ".join(f"--hash={digest}" for digest in self.hashes)
        return f"{self.name}=={self.version} {hashes}"


def read_lock(path: Path) -> dict[NormalizedName, LockedPackage]:
    """The lock's entries that apply to this interpreter, by canonical name."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    packages: dict[NormalizedName, LockedPackage] = {}
    for entry in logical_lines(text):
        spec, *options = entry.split(" --hash=")
        try:
            requirement = Requirement(spec.strip())
        except InvalidRequirement as exc:
            raise UsageError(f"{path}: cannot parse {spec.strip()!r}: {exc}") from None
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        pins = [s for s in requirement.specifier if s.operator == "=="]
        if len(pins) != 1 or not options:
            raise UsageError(f"{path}: {requirement.name} is not pinned with hashes")
        name = canonicalize_name(requirement.name)
        hashes = tuple(option.strip() for option in options)
        packages[name] = LockedPackage(name, pins[0].version, hashes)
    return packages


def logical_lines(text: str) -> list[str]:
    """Requirement entries with their backslash continuations joined and comments dropped."""
    entries: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            entries.append(" ".join(current.split()))
        current = ""
    return entries
