"""A distribution's name and version as its own metadata states them, not as its file name does.

A file name is a label anyone can change: a wheel renamed to another version, or an sdist whose
PKG-INFO names another project, must not be recorded under the name it wears. So the manifest
takes the project and version from `METADATA` (wheel) or `PKG-INFO` (sdist), parsed by
`packaging.metadata`, and refuses a file whose name is not the normalised PEP 427 / PEP 625 name
of exactly that project and version.

Every read is bounded, because the archive is untrusted: the metadata member may hold at most
`MAX_METADATA_BYTES` whatever its header claims, and finding `PKG-INFO` in an sdist decompresses
at most `MAX_SDIST_BYTES`, so a zip or gzip bomb costs a bounded amount of memory and time.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import tarfile
import zipfile
import zlib
from pathlib import Path

from packaging.metadata import ExceptionGroup, InvalidMetadata, Metadata
from packaging.utils import canonicalize_name
from packaging.version import Version

from dask_kubernetes_release.core.dists import (
    SDIST_SUFFIX,
    WHEEL_SUFFIX,
    normalized_filename,
    parse_distribution_name,
)
from dask_kubernetes_release.core.errors import UsageError

MAX_METADATA_BYTES = 1024 * 1024
MAX_SDIST_BYTES = 128 * 1024 * 1024
_ARCHIVE_ERRORS = (
    OSError,
    EOFError,
    zlib.error,
    zipfile.BadZipFile,
    tarfile.TarError,
    NotImplementedError,  # a zip compression method Python lacks
    RuntimeError,  # an encrypted zip member
    ValueError,
)


@dataclasses.dataclass(frozen=True)
class DistMetadata:
    """What a distribution's metadata says it is."""

    project: str  # canonical (PEP 503)
    version: Version
    member: str  # where it was read: "x-1.0.dist-info/METADATA" or "x-1.0/PKG-INFO"


class _TooLarge(Exception):
    pass


class _BoundedReader(io.RawIOBase):
    """Reads at most `limit` bytes from `inner`, then raises _TooLarge."""

    def __init__(self, inner: io.BufferedIOBase, limit: int) -> None:
        self._inner = inner
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer)
        data = self._inner.read(min(len(view), self._left + 1))
        if len(data) > self._left:
            raise _TooLarge
        self._left -= len(data)
        view[: len(data)] = data
        return len(data)


def checked_metadata(path: Path) -> DistMetadata:
    """The metadata of the distribution at `path`, which its file name must agree with.

    UsageError (exit 2) for a name that is not normalised, an archive that cannot be read within
    the bounds, metadata `packaging` refuses, or a name and version the metadata contradicts.
    """
    path = Path(path)
    name = path.name
    dist = parse_distribution_name(name)
    expected = normalized_filename(name)
    if name != expected:
        raise UsageError(
            f"not a normalised distribution file name: {name!r} (expected {expected!r})"
        )
    stem = name_version_stem(name)
    try:
        if dist.kind == "wheel":
            member, raw = _wheel_metadata(path, stem)
        else:
            member, raw = _sdist_metadata(path, stem)
    except _TooLarge:
        raise UsageError(f"{name}: metadata not found within the size limits") from None
    except _ARCHIVE_ERRORS as exc:
        raise UsageError(f"{name}: not a readable {dist.kind}: {exc}") from None
    metadata = _parse(raw, f"{name}!{member}")
    found = DistMetadata(canonicalize_name(metadata.name), metadata.version, member)
    if (found.project, found.version) != (dist.project, dist.version):
        raise UsageError(
            f"{name}: the file name says {dist.project} {dist.version}, "
            f"its {member} says {found.project} {found.version}"
        )
    return found


def name_version_stem(filename: str) -> str:
    """`name-version` as the file name spells it: where a normalised name's metadata lives."""
    if filename.endswith(SDIST_SUFFIX):
        return filename[: -len(SDIST_SUFFIX)]
    return "-".join(filename[: -len(WHEEL_SUFFIX)].split("-")[:2])


def _wheel_metadata(path: Path, stem: str) -> tuple[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        found = [
            info
            for info in archive.infolist()
            if info.filename.count("/") == 1 and info.filename.endswith(".dist-info/METADATA")
        ]
        expected = f"{stem}.dist-info/METADATA"
        if [info.filename for info in found] != [expected]:
            listed = ", ".join(info.filename for info in found) or "none"
            raise UsageError(f"{path.name}: expected exactly {expected}, found {listed}")
        (info,) = found
        if info.file_size > MAX_METADATA_BYTES:
            raise _TooLarge
        with archive.open(info) as member:
            data = member.read(MAX_METADATA_BYTES + 1)  # the header's size may lie
        if len(data) > MAX_METADATA_BYTES:
            raise _TooLarge
        return expected, data


def _sdist_metadata(path: Path, stem: str) -> tuple[str, bytes]:
    expected = f"{stem}/PKG-INFO"
    found: list[bytes] = []
    with path.open("rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
        bounded = io.BufferedReader(_BoundedReader(unzipped, MAX_SDIST_BYTES))
        with tarfile.open(fileobj=bounded, mode="r|") as archive:
            for member in archive:
                if member.name.removeprefix("./") != expected:
                    continue
                # Every copy is read: a tar may hold one path twice, and the last one wins.
                if not member.isfile() or member.size > MAX_METADATA_BYTES:
                    raise UsageError(f"{path.name}: {expected} is not a small regular file")
                extracted = archive.extractfile(member)
                if extracted is None:
                    raise UsageError(f"{path.name}: cannot read {expected}")
                found.append(extracted.read(MAX_METADATA_BYTES + 1))
    if len(found) != 1:
        raise UsageError(f"{path.name}: expected exactly one {expected}, found {len(found)}")
    return expected, found[0]


def _parse(raw: bytes, where: str) -> Metadata:
    try:
        return Metadata.from_email(raw, validate=True)
    except (InvalidMetadata, ExceptionGroup) as exc:
        problems = getattr(exc, "exceptions", [exc])
        detail = "; ".join(str(problem) for problem in problems)
        raise UsageError(f"{where}: invalid metadata: {detail}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: unreadable metadata: {exc}") from None
