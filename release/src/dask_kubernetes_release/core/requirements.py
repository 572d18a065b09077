"""The project's one reader of requirements files and hash locks (uv's `pip compile` output).

Why one: the build environment may only contain what release/requirements.lock pins, with its
hashes (this module picks a package's entry for this interpreter, for `pip --require-hashes`);
provenance records the same pins; `lock` and `check` read the requirements files they wrote;
release/docker/runtime_lock.py follows the `# via` annotations of tests/requirements.lock to
the operator image's runtime subset. All of them join continuation lines, split off `--hash=`
options and read the annotations the same way.
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
        spec, options = split_entry(entry)
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
        hashes = options
        packages[name] = LockedPackage(name, pins[0].version, hashes)
    return packages


def _annotated_lines(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Each requirement entry, its backslash continuations joined, with the text of the
    comment lines that follow it (uv's `# via` annotations)."""
    entries: list[tuple[str, list[str]]] = []
    current = ""
    for raw in text.splitlines():
        comment = raw.lstrip().startswith("#")
        if comment and entries and not current:
            entries[-1][1].append(raw.strip().lstrip("#").strip())
        line = raw.split(" #", 1)[0].strip() if not comment else ""
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            entries.append((" ".join(current.split()), []))
        current = ""
    return [(entry, tuple(comments)) for entry, comments in entries]


def logical_lines(text: str) -> list[str]:
    """Requirement entries with their backslash continuations joined and comments dropped."""
    return [entry for entry, _ in _annotated_lines(text)]


def _via(comments: tuple[str, ...]) -> frozenset[NormalizedName]:
    """The packages uv's annotations say require this one (`# via NAME` or a `# via` list);
    `-r FILE` (a top-level requirement) is no package."""
    names = (line.removeprefix("via").strip() for line in comments)
    return frozenset(canonicalize_name(n) for n in names if n and not n.startswith("-r "))


def split_entry(entry: str) -> tuple[str, tuple[str, ...]]:
    """A logical line's requirement text and its `--hash=` values (`sha256:HEX`)."""
    spec, *options = entry.split(" --hash=")
    return spec.strip(), tuple(option.strip() for option in options)


@dataclasses.dataclass(frozen=True)
class PinnedEntry:
    """One `NAME==VERSION` entry with hashes, as written (`spec`: the requirement text)."""

    requirement: Requirement
    version: str
    hashes: tuple[str, ...]  # `sha256:HEX`
    spec: str
    via: frozenset[NormalizedName]  # the packages that require it, from uv's annotations

    @property
    def name(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)

    def lines(self) -> list[str]:
        """The entry as uv writes it: the requirement, then one `--hash=` per line."""
        ends = [" \\"] * len(self.hashes) + [""]
        texts = [self.spec, *(f"    --hash={digest}" for digest in self.hashes)]
        return [text + end for text, end in zip(texts, ends, strict=True)]


@dataclasses.dataclass(frozen=True)
class RequirementsFile:
    """Every logical line of a requirements file: option lines as written, pinned entries,
    and the lines that are neither (unparsable, or not `NAME==VERSION` with hashes)."""

    options: tuple[str, ...]
    pins: tuple[PinnedEntry, ...]
    refused: tuple[str, ...]


def read_requirements_file(text: str) -> RequirementsFile:
    """Read all of `text`: `check` and `verify` hold every line to the SBOM, not the first."""
    options: list[str] = []
    pins: list[PinnedEntry] = []
    refused: list[str] = []
    for entry, comments in _annotated_lines(text):
        if entry.startswith("-"):
            options.append(entry)
            continue
        spec, hashes = split_entry(entry)
        try:
            requirement = Requirement(spec)
        except InvalidRequirement:
            refused.append(f"cannot parse {entry!r}")
            continue
        versions = [s.version for s in requirement.specifier if s.operator == "=="]
        if requirement.url or len(versions) != 1 or len(requirement.specifier) != 1 or not hashes:
            refused.append(f"{spec!r} is not pinned (NAME==VERSION) with hashes")
            continue
        pins.append(PinnedEntry(requirement, versions[0], hashes, spec, _via(comments)))
    return RequirementsFile(tuple(options), tuple(pins), tuple(refused))
