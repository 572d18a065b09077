"""Finding distributions in a directory and reading their file names.

Shared by every release command so they agree on what counts as a distribution, which
companion files may sit next to one, and when two file names denote the same distribution
(an attestation subject against a file on disk, say).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Literal

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.lockfiles import LOCK_NAMES, lock_kind

WHEEL_SUFFIX = ".whl"
SDIST_SUFFIX = ".tar.gz"
# The exact build toolchain, written by `release build` and read by `release attest`.
TOOLCHAIN_NAME = "build-toolchain.json"
# Files the release toolkit itself writes next to the distributions.
# (`release lock` adds requirements*.txt, pylock*.toml and the SBOM: _lock_files.LOCK_NAMES.)
# The trust root of the Sigstore instance a rehearsal signed on (`release pipeline`, keyless on
# the local instance): `release verify --trusted-root` takes it.
TRUSTED_ROOT_NAME = "trusted_root.json"
COMPANION_NAMES = frozenset(
    {"manifest.json", "SHA256SUMS", TOOLCHAIN_NAME, TRUSTED_ROOT_NAME, *LOCK_NAMES}
)
# The Helm chart released beside the distributions: `dask-kubernetes-operator-VERSION.tgz`.
CHART_NAME = "dask-kubernetes-operator"
CHART_SUFFIX = ".tgz"
CHART_PROJECT = "dask-kubernetes"
_CHART_FILE = re.compile(
    rf"{CHART_NAME}-(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?){re.escape(CHART_SUFFIX)}"
)
# Public keys that verify key-signed attestations (`local-attestation-key.pub`).
KEY_SUFFIX = ".pub"
# Per-distribution companions (`X.whl.publish.attestation`, bundles, signatures, provenance).
COMPANION_SUFFIXES = (
    ".attestation",
    ".provenance",
    ".intoto.json",
    ".intoto.jsonl",
    ".sigstore.json",
    ".sigstore",
    ".sig",
    ".pem",
)

# What `release attest` writes beside each distribution; `manifest` lists the ones present.
ATTESTATION_SUFFIXES = (".intoto.jsonl", ".publish.attestation")

RELEASE_SUFFIXES = (WHEEL_SUFFIX, SDIST_SUFFIX, CHART_SUFFIX)

Kind = Literal["wheel", "sdist"]


@dataclasses.dataclass(frozen=True)
class DistName:
    """What a distribution's file name says about it."""

    filename: str
    project: str  # canonical (PEP 503) project name, e.g. "dask-kubernetes"
    version: Version
    python_tag: str  # wheel: the file name's Python tag ("py3"); sdist: "source", as PyPI shows
    kind: Kind

    @property
    def key(self) -> tuple[str, str, Version, str]:
        """Equal for two file names PyPI treats as the same distribution."""
        tail = self.python_tag if self.kind == "sdist" else _wheel_tags(self.filename)
        return (self.kind, self.project, self.version, tail)


def is_distribution_name(name: str) -> bool:
    return name.endswith((WHEEL_SUFFIX, SDIST_SUFFIX))


def is_companion_name(name: str) -> bool:
    """Files that may sit next to distributions without being one (ours, or dotfiles)."""
    if name.startswith(".") or name in COMPANION_NAMES or name.endswith(KEY_SUFFIX):
        return True
    if lock_kind(name) or lock_kind(name.removesuffix(".intoto.jsonl")):
        return True  # a lock file, or its signed statements (`release attest`)
    names_a_distribution = any(f"{suffix}." in name for suffix in RELEASE_SUFFIXES)
    return names_a_distribution and name.endswith(COMPANION_SUFFIXES)


def chart_filename(version: str) -> str:
    return f"{CHART_NAME}-{version}{CHART_SUFFIX}"


def chart_version_of(filename: str) -> str | None:
    """The version a chart archive's file name states, or None if it is no chart name."""
    match = _CHART_FILE.fullmatch(filename)
    return match.group(1) if match else None


def release_project(filename: str) -> str:
    """The project a release file belongs to (the chart is dask-kubernetes'); UsageError if
    the name is neither a distribution nor the chart."""
    if chart_version_of(filename) is not None:
        return CHART_PROJECT
    return parse_distribution_name(filename).project


def find_charts(directory: Path) -> list[Path]:
    """The chart archives directly in `directory`, sorted by name (regular files only)."""
    found = sorted(p for p in Path(directory).iterdir() if chart_version_of(p.name) is not None)
    for path in found:
        if path.is_symlink() or not path.is_file():
            raise UsageError(f"not a regular file: {path}")
    return found


def parse_distribution_name(filename: str) -> DistName:
    """Parse a wheel or sdist file name with `packaging`; UsageError if it is neither."""
    try:
        if filename.endswith(WHEEL_SUFFIX):
            name, version, _build, _tags = parse_wheel_filename(filename)
            python_tag = filename[: -len(WHEEL_SUFFIX)].split("-")[-3]
            return DistName(filename, str(name), version, python_tag, "wheel")
        if filename.endswith(SDIST_SUFFIX):
            name, version = parse_sdist_filename(filename)
            return DistName(filename, str(name), version, "source", "sdist")
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise UsageError(f"not a valid distribution file name: {filename!r} ({exc})") from None
    raise UsageError(f"not a distribution (expected .whl or .tar.gz): {filename!r}")


def normalized_filename(filename: str) -> str:
    """The file name as PyPI normalises it (PEP 427/625): `dask_kubernetes-2026.3.0-...`."""
    dist = parse_distribution_name(filename)
    stem = f"{canonicalize_name(dist.project).replace('-', '_')}-{dist.version}"
    if dist.kind == "sdist":
        return stem + SDIST_SUFFIX
    parts = filename[: -len(WHEEL_SUFFIX)].split("-")
    build = f"-{parts[2]}" if len(parts) == 6 else ""  # an optional build tag, kept as written
    return f"{stem}{build}-{_wheel_tags(filename)}{WHEEL_SUFFIX}"


def same_distribution(a: str, b: str) -> bool:
    """Whether two file names denote one distribution once normalised (a subject vs a file).

    A chart archive has no normalisation: it is the same only under its exact name."""
    if chart_version_of(a) is not None or chart_version_of(b) is not None:
        return a == b
    return parse_distribution_name(a).key == parse_distribution_name(b).key


def find_distributions(directory: Path, *, allow_empty: bool = False) -> list[Path]:
    """The wheels and sdists directly in `directory`, sorted by name.

    Refuses (UsageError) a missing directory, one without distributions (unless `allow_empty`:
    `check` reports missing files itself), files that are neither a distribution nor a known
    companion, malformed distribution names, and symlinks leading outside it.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"not a directory: {directory}")
    root = directory.resolve()
    found: list[Path] = []
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if entry.is_symlink() and not _inside(_resolve(entry), root):
            raise UsageError(f"symlink leads outside {directory}: {entry.name}")
        if entry.is_dir() or is_companion_name(entry.name) or chart_version_of(entry.name):
            continue
        if not is_distribution_name(entry.name):
            raise UsageError(f"not a distribution: {entry}")
        parse_distribution_name(entry.name)
        if not entry.is_file():
            raise UsageError(f"not a regular file: {entry}")
        found.append(entry)
    if not found and not allow_empty:
        raise UsageError(f"no distributions (.whl, .tar.gz) in {directory}")
    return found


def _wheel_tags(filename: str) -> str:
    """The `python-abi-platform` part of a wheel name, each tag set sorted (PEP 425 compressed)."""
    parts = filename[: -len(WHEEL_SUFFIX)].split("-")[-3:]
    return "-".join(".".join(sorted(part.lower().split("."))) for part in parts)


def _resolve(link: Path) -> Path:
    try:
        return link.resolve()
    except (RuntimeError, OSError):  # a symlink loop: RuntimeError before Python 3.13
        raise UsageError(f"symlink loop: {link}") from None


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
