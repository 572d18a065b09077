"""`manifest.json`: the per-file records and their strict reading.

Plain JSON with a schema version, stable key order and a trailing newline, so two manifests of
the same files are byte-identical. Reading is strict because `check` trusts nothing in it: a
file name that could point elsewhere (a path separator, `..`, a newline) is refused outright.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from dask_kubernetes_release.core.digests import FileDigests, digest_file
from dask_kubernetes_release.core.dists import (
    ATTESTATION_SUFFIXES,
    chart_version_of,
    is_distribution_name,
    parse_distribution_name,
)
from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.lockfiles import LOCK_NAMES, REQUIREMENTS_NAME

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
_HEX = {"sha256": 64, "md5": 32, "blake2b_256": 64}


@dataclasses.dataclass(frozen=True)
class FileRecord:
    """One file as PyPI describes it on its page."""

    filename: str
    size: int
    python_tag: str | None  # None for a file that is not a distribution (`manifest --json`)
    sha256: str
    md5: str
    blake2b_256: str

    @classmethod
    def from_digests(cls, filename: str, digests: FileDigests) -> FileRecord:
        tag = _python_tag(filename)
        return cls(filename, digests.size, tag, digests.sha256, digests.md5, digests.blake2b_256)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Manifest:
    project: str
    version: str
    files: tuple[FileRecord, ...]
    # The attestations present when the manifest was written (after `release attest`); `check`
    # then requires each of them. Omitted from the JSON when empty.
    attestations: tuple[FileRecord, ...] = ()
    # The Helm chart archive(s) released beside the distributions (`release chart`); omitted
    # from the JSON when empty. Not in `files`: requirements.txt pins only distributions.
    charts: tuple[FileRecord, ...] = ()
    # The dependency lock written by `release lock` (requirements*.txt, pylock*.toml, the SBOM);
    # omitted from the JSON when empty. Hashed and checked, but neither attested nor pinned.
    locks: tuple[FileRecord, ...] = ()

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "version": SCHEMA_VERSION,
            "project": {"name": self.project, "version": self.version},
            "files": [record.as_json() for record in self.files],
        }
        if self.charts:
            document["charts"] = [record.as_json() for record in self.charts]
        if self.locks:
            document["locks"] = [record.as_json() for record in self.locks]
        if self.attestations:
            document["attestations"] = [record.as_json() for record in self.attestations]
        return document

    def dumps(self) -> str:
        return json.dumps(self.as_json(), indent=2) + "\n"

    def by_name(self) -> dict[str, FileRecord]:
        return {record.filename: record for record in self.files + self.charts + self.locks}

    @property
    def released(self) -> tuple[FileRecord, ...]:
        """Every attestable file: the distributions, then the charts."""
        return self.files + self.charts

    @property
    def hashed(self) -> tuple[FileRecord, ...]:
        """Every file SHA256SUMS lists and `check` re-hashes."""
        return self.released + self.locks + self.attestations


def _python_tag(filename: str) -> str | None:
    """The tag PyPI would show, or None for a file whose name is no valid distribution name."""
    if not is_distribution_name(filename):
        return None
    try:
        return parse_distribution_name(filename).python_tag
    except UsageError:
        return None


def record_file(path: Path) -> FileRecord:
    """Hash `path` once; an unreadable file is a UsageError naming it."""
    try:
        return FileRecord.from_digests(Path(path).name, digest_file(path))
    except IsADirectoryError:
        raise UsageError(f"not a file: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def check_safe_filename(name: object) -> str:
    """A bare file name inside the directory, or UsageError."""
    if not isinstance(name, str) or not name:
        raise UsageError(f"manifest entry has no file name: {name!r}")
    if "/" in name or "\\" in name or ".." in name or re.search(r"[\x00-\x1f\x7f]", name):
        raise UsageError(f"unsafe file name in manifest: {name!r}")
    return name


def load_manifest(path: Path) -> Manifest:
    """Read and validate `manifest.json` (or DIR/manifest.json): any fault is one UsageError."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise UsageError(f"no {MANIFEST_NAME} at {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from None
    return _parse_manifest(data, path)


def _parse_manifest(data: object, path: Path) -> Manifest:
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object")
    if data.get("version") != SCHEMA_VERSION:
        raise UsageError(f"{path}: unsupported manifest version {data.get('version')!r}")
    project = data.get("project")
    files = data.get("files")
    if not isinstance(project, dict) or not isinstance(files, list):
        raise UsageError(f"{path}: needs 'project' (object) and 'files' (list)")
    name, version = project.get("name"), project.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        raise UsageError(f"{path}: project needs string 'name' and 'version'")
    attestations, chart_entries = data.get("attestations", []), data.get("charts", [])
    lock_entries = data.get("locks", [])
    if not all(isinstance(v, list) for v in (attestations, chart_entries, lock_entries)):
        raise UsageError(f"{path}: 'attestations', 'charts' and 'locks' must be lists")
    records = tuple(_parse_record(entry, path) for entry in files)
    attested = tuple(_parse_record(entry, path) for entry in attestations)
    charts = tuple(_parse_record(entry, path) for entry in chart_entries)
    locks = tuple(_parse_record(entry, path) for entry in lock_entries)
    for record in locks:
        if record.filename not in LOCK_NAMES:
            raise UsageError(f"{path}: {record.filename} is not a file `release lock` writes")
    for record in charts:
        if chart_version_of(record.filename) is None:
            raise UsageError(f"{path}: {record.filename} is not a chart archive name")
    names = [record.filename for record in records + attested + charts + locks]
    if len(set(names)) != len(names):
        raise UsageError(f"{path}: a file is listed twice")
    # Lock files are attested too (`release attest`), and requirements.txt even before a lock.
    listed = {record.filename for record in records + charts + locks} | {REQUIREMENTS_NAME}
    for record in attested:
        if not any(
            record.filename == f"{dist}{suffix}"
            for dist in listed
            for suffix in ATTESTATION_SUFFIXES
        ):
            raise UsageError(f"{path}: {record.filename} is not an attestation of a listed file")
    return Manifest(name, version, records, attested, charts, locks)


def _parse_record(entry: object, path: Path) -> FileRecord:
    if not isinstance(entry, dict):
        raise UsageError(f"{path}: every file entry must be an object")
    filename = check_safe_filename(entry.get("filename"))
    size = entry.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise UsageError(f"{path}: {filename}: 'size' must be a non-negative integer")
    tag = entry.get("python_tag")
    if tag is not None and not isinstance(tag, str):
        raise UsageError(f"{path}: {filename}: 'python_tag' must be a string")
    digests = {}
    for key, length in _HEX.items():
        value = entry.get(key)
        if not isinstance(value, str) or not re.fullmatch(f"[0-9a-f]{{{length}}}", value):
            raise UsageError(f"{path}: {filename}: '{key}' must be {length} lowercase hex digits")
        digests[key] = value
    return FileRecord(filename, size, tag, **digests)
