"""Re-hash the distributions in DIR and compare them with manifest.json and SHA256SUMS.

Every problem is reported, not just the first: a changed file (which digests differ), a file
listed but missing, a distribution present but unlisted, and disagreement between manifest.json,
SHA256SUMS and requirements.txt. Exit 0 when everything matches, 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from release._dists import find_distributions, is_distribution_name, parse_distribution_name
from release._errors import CheckFailed, UsageError
from release._hash_outputs import REQUIREMENTS_NAME, SUMS_NAME, parse_sums, requirement_hashes
from release._hash_records import MANIFEST_NAME, FileRecord, Manifest, load_manifest, record_file
from release._lock_files import lock_files

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
    manifest = load_manifest(directory / MANIFEST_NAME)
    sums = _load_sums(directory / SUMS_NAME)
    on_disk = [*find_distributions(directory, allow_empty=True), *lock_files(directory)]
    present = {path.name: path for path in on_disk}
    problems: list[Problem] = []
    verified: list[FileRecord] = []
    for expected in manifest.files:
        path = present.get(expected.filename)
        if path is None:
            problems.append(Problem("missing", expected.filename, f"listed in {MANIFEST_NAME}"))
            continue
        actual = record_file(path)
        found = _compare(expected, actual, sums)
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
    return CheckReport(directory, tuple(verified), tuple(problems))


def _compare(expected: FileRecord, actual: FileRecord, sums: dict[str, str]) -> list[Problem]:
    name = expected.filename
    found = []
    differing = [f for f in _COMPARED if getattr(actual, f) != getattr(expected, f)]
    if differing:
        found.append(Problem("mismatch", name, "differs in " + ", ".join(differing)))
    if sums.get(name, actual.sha256) != actual.sha256:
        found.append(Problem("mismatch", name, f"sha256 differs from {SUMS_NAME}"))
    return found


def _load_sums(path: Path) -> dict[str, str]:
    if not path.exists():
        raise UsageError(f"no {SUMS_NAME} at {path}")
    return parse_sums(_read_text(path), path)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def _consistency(manifest: Manifest, sums: dict[str, str], directory: Path) -> list[Problem]:
    """manifest.json, SHA256SUMS and requirements.txt must describe the same files."""
    problems: list[Problem] = []
    listed = manifest.by_name()
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
    if requirements.exists():
        pin, hashes = requirement_hashes(_read_text(requirements))
        if pin != f"{manifest.project}=={manifest.version}":
            problems.append(Problem("inconsistent", REQUIREMENTS_NAME, f"pins {pin!r}"))
        if hashes != {r.sha256 for r in manifest.files if is_distribution_name(r.filename)}:
            problems.append(
                Problem("inconsistent", REQUIREMENTS_NAME, f"hashes differ from {MANIFEST_NAME}")
            )
    return problems


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, metavar="DIR")


def run(args: argparse.Namespace) -> int:
    report = check_directory(args.directory)
    if report.verified:
        from release._hash_table import print_table

        print_table(report.verified, title=f"verified in {report.directory}")
    for problem in report.problems:
        print(problem)
    if not report.ok:
        raise CheckFailed(f"{len(report.problems)} problem(s) in {report.directory}")
    print(f"ok: {len(report.verified)} file(s) match {MANIFEST_NAME} and {SUMS_NAME}")
    return 0
