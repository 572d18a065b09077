"""Re-hash the distributions in DIR and compare them with manifest.json and SHA256SUMS.

The operator's chart archive, when the manifest lists one, is re-hashed the same way.
Every problem is reported, not just the first: a changed file (which digests differ), a file
listed but missing, a distribution present but unlisted, a distribution whose own metadata is
not the release's, a missing companion (manifest.json, SHA256SUMS, requirements.txt, or an
attestation the manifest lists), disagreement between manifest.json, SHA256SUMS and
requirements.txt, and any line of a lock file (requirements*.txt, pylock*.toml) that
sbom.cdx.json does not vouch for: an option `release lock` never writes (an extra index), a
pin or hash the SBOM lacks, two versions of a package for one Python and platform. Exit 0 when
everything matches, 1 otherwise; 2 only for unusable input (a garbled manifest.json or
SHA256SUMS).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from packaging.utils import NormalizedName

from dask_kubernetes_release.core.dists import (
    find_charts,
    find_distributions,
    is_distribution_name,
    parse_distribution_name,
)
from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.lockfiles import (
    REQUIREMENTS_NAME,
    SBOM_NAME,
    has_lock,
    lock_files,
    lock_kind,
    present_lock_files,
)
from dask_kubernetes_release.core.lockpins import inventory, lock_pins, lock_problems
from dask_kubernetes_release.core.metadata import checked_metadata
from dask_kubernetes_release.core.printable import printable
from dask_kubernetes_release.core.requirements import read_requirements_file
from dask_kubernetes_release.manifest.outputs import SUMS_NAME, parse_sums, requirement_hashes
from dask_kubernetes_release.manifest.records import (
    MANIFEST_NAME,
    FileRecord,
    Manifest,
    load_manifest,
    record_file,
)

_COMPARED = ("size", "sha256", "md5", "blake2b_256", "python_tag")


@dataclasses.dataclass(frozen=True)
class Problem:
    kind: str  # "mismatch", "missing", "unlisted" or "inconsistent"
    filename: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.filename}: {self.detail}"


@dataclasses.dataclass(frozen=True)
class CheckReport:
    directory: Path
    verified: tuple[FileRecord, ...]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_directory(directory: Path) -> CheckReport:
    """Compare `directory` with its manifest; UsageError only when the inputs are unusable."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"not a directory: {directory}")
    present = {path.name: path for path in find_distributions(directory, allow_empty=True)}
    present.update({path.name: path for path in find_charts(directory)})
    problems = [
        Problem("missing", name, "companion file")
        for name in (MANIFEST_NAME, SUMS_NAME, REQUIREMENTS_NAME)
        if not (directory / name).is_file()
    ]
    if not (directory / MANIFEST_NAME).is_file():
        # Nothing can be verified without the manifest: report what is missing and stop.
        return CheckReport(directory, (), tuple(problems))
    manifest = load_manifest(directory / MANIFEST_NAME)
    sums = _load_sums(directory / SUMS_NAME)
    # Listed companions are looked up by name: attestations, and the lock's files.
    companions = {
        record.filename: directory / record.filename
        for record in manifest.attestations + manifest.locks
        if (directory / record.filename).is_file()
    }
    present.update({path.name: path for path in lock_files(directory)})
    verified: list[FileRecord] = []
    for expected in manifest.hashed:
        path = present.get(expected.filename) or companions.get(expected.filename)
        if path is None:
            problems.append(Problem("missing", expected.filename, f"listed in {MANIFEST_NAME}"))
            continue
        actual = record_file(path)
        found = _compare(expected, actual, sums)
        if not found and is_distribution_name(expected.filename) and expected.filename in present:
            found = _metadata(manifest, path)
        problems += found
        if not found:
            verified.append(actual)
    listed = manifest.by_name()
    problems += [
        Problem("unlisted", name, f"not in {MANIFEST_NAME}")
        for name in present
        if name not in listed
    ]
    problems += _consistency(manifest, sums, directory)
    problems += _locks(directory, manifest)
    return CheckReport(directory, tuple(verified), tuple(problems))


def _metadata(manifest: Manifest, path: Path) -> list[Problem]:
    """A listed distribution must be what its own metadata and the manifest say it is."""
    try:
        meta = checked_metadata(path)
    except UsageError as exc:
        return [Problem("refused", path.name, str(exc))]
    if (meta.project, str(meta.version)) != (manifest.project, manifest.version):
        detail = f"its {meta.member} says {meta.project} {meta.version}"
        return [Problem("inconsistent", path.name, detail)]
    return []


def _compare(
    expected: FileRecord, actual: FileRecord, sums: dict[str, str] | None
) -> list[Problem]:
    name = expected.filename
    found = []
    differing = [f for f in _COMPARED if getattr(actual, f) != getattr(expected, f)]
    if differing:
        found.append(Problem("mismatch", name, "differs in " + ", ".join(differing)))
    if sums is not None and sums.get(name, actual.sha256) != actual.sha256:
        found.append(Problem("mismatch", name, f"sha256 differs from {SUMS_NAME}"))
    return found


def _load_sums(path: Path) -> dict[str, str] | None:
    """SHA256SUMS, or None when it is missing (reported as a missing companion)."""
    if not path.is_file():
        return None
    return parse_sums(_read_text(path), path)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def _consistency(manifest: Manifest, sums: dict[str, str] | None, directory: Path) -> list[Problem]:
    """manifest.json, SHA256SUMS and requirements.txt must describe the same files."""
    problems: list[Problem] = []
    listed = {record.filename for record in manifest.hashed}
    if sums is None:
        sums = dict.fromkeys(listed, "")  # reported as missing already; nothing to compare
    for name in sorted(set(sums) - set(listed)):
        problems.append(Problem("inconsistent", name, f"in {SUMS_NAME} but not {MANIFEST_NAME}"))
    for name in sorted(set(listed) - set(sums)):
        problems.append(Problem("inconsistent", name, f"in {MANIFEST_NAME} but not {SUMS_NAME}"))
    for record in manifest.files:
        if is_distribution_name(record.filename):
            dist = parse_distribution_name(record.filename)
            if (dist.project, str(dist.version)) != (manifest.project, manifest.version):
                problems.append(
                    Problem("inconsistent", record.filename, "not the manifest's project/version")
                )
    requirements = directory / REQUIREMENTS_NAME
    if requirements.is_file():
        pin, hashes = requirement_hashes(_read_text(requirements))
        if pin != f"{manifest.project}=={manifest.version}":
            problems.append(Problem("inconsistent", REQUIREMENTS_NAME, f"pins {pin!r}"))
        if hashes != {r.sha256 for r in manifest.files if is_distribution_name(r.filename)}:
            problems.append(
                Problem("inconsistent", REQUIREMENTS_NAME, f"hashes differ from {MANIFEST_NAME}")
            )
    return problems


def _locks(directory: Path, manifest: Manifest) -> list[Problem]:
    """Every line of every lock file, held to the sbom.cdx.json beside them (and the SBOM to
    the locks); before `release lock`, requirements.txt must hold our own line alone."""
    locks = [p for p in present_lock_files(directory) if lock_kind(p.name) != "sbom"]
    sbom = directory / SBOM_NAME
    if not sbom.is_file() and has_lock(directory):
        # Locked, but nothing to hold the locks to (a listed SBOM is reported missing already).
        return (
            []
            if SBOM_NAME in manifest.by_name()
            else [Problem("missing", SBOM_NAME, "the lock files are checked against it")]
        )
    if not sbom.is_file():
        return _unlocked(directory, locks)
    try:
        bom = json.loads(_read_text(sbom))
    except ValueError:
        return [Problem("refused", SBOM_NAME, "not JSON")]
    if not isinstance(bom, dict):
        return [Problem("refused", SBOM_NAME, "not a CycloneDX document")]
    problems: list[Problem] = []
    pinned: set[tuple[NormalizedName, str]] = set()
    for lock in locks:
        text = _read_text(lock)
        problems += [
            Problem("inconsistent", lock.name, found)
            for found in lock_problems(lock.name, text, bom, SBOM_NAME)
        ]
        pinned |= {(pin.name, pin.version) for pin in lock_pins(lock.name, text)[0]}
    problems += [
        Problem("inconsistent", SBOM_NAME, f"{name} {version} is in no lock file")
        for name, version in sorted(inventory(bom).pinned() - pinned)
    ]
    return problems


def _unlocked(directory: Path, locks: list[Path]) -> list[Problem]:
    problems = [
        Problem("inconsistent", lock.name, f"a lock file without {SBOM_NAME}")
        for lock in locks
        if lock.name != REQUIREMENTS_NAME
    ]
    if (directory / REQUIREMENTS_NAME).is_file():
        found = read_requirements_file(_read_text(directory / REQUIREMENTS_NAME))
        extra = [
            *found.options,
            *found.refused,
            *(f"{entry.requirement} {entry.version}" for entry in found.pins[1:]),
        ]
        problems += [
            Problem("inconsistent", REQUIREMENTS_NAME, f"{line}: not written by `release manifest`")
            for line in extra
        ]
    return problems


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, metavar="DIR")


def run(args: argparse.Namespace) -> int:
    report = check_directory(args.directory)
    if report.verified:
        from dask_kubernetes_release.manifest.table import print_table

        print_table(report.verified, title=f"verified in {report.directory}")
    for problem in report.problems:
        print(printable(str(problem)))
    if not report.ok:
        raise CheckFailed(f"{len(report.problems)} problem(s) in {report.directory}")
    print(f"ok: {len(report.verified)} file(s) match {MANIFEST_NAME} and {SUMS_NAME}")
    return 0
