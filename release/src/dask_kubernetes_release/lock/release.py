"""`Release`: our own files in the directory `release lock` reads, as lock and SBOM see them.

Its own module so `lock/command.py` (which reads it) and `lock/sbom.py` (which records it) both
import it, neither from the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dask_kubernetes_release.manifest.records import FileRecord


@dataclass(frozen=True)
class Release:
    """Our own files in DIR: the wheel the closure is resolved from, and the sdist."""

    project: str
    version: str
    wheel: Path
    files: tuple[FileRecord, ...]  # wheel and sdist, as the manifest records them
    extras: tuple[str, ...]  # what the wheel's metadata declares
