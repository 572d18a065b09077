"""`build-toolchain.json`: what `release build` actually used, for `release attest` to record.

Why: a lock allows several artefacts per package (a wheel, an sdist), so the lock alone cannot say
which one built a release. `release build` writes this file beside the distributions: every
package of the build environment with the sha256 of the very artefact pip installed (from
`pip install --report`), plus the `build` frontend, which runs from the release tool's own
environment where nothing recorded its artefact (so it carries the lock's sha256 list, marked).
The file also names the distributions it describes, so it is never credited to other files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.files import read_optional_json, write_atomically

RECORD_TYPE = "https://github.com/dask/dask-kubernetes/blob/main/docs/VERIFYING.md#build-toolchain"
FROM_PIP_REPORT = "pip install --report"
FROM_LOCK = "lock: the installed artefact was not recorded; it is one of lockedSha256"
UNRECORDED = "nothing: the installed artefact was not recorded, and the lock pins another version"


@dataclass(frozen=True)
class Artefact:
    """One package of the toolchain; `sha256` is None when only the lock's list is known."""

    name: str
    version: str
    sha256: str | None
    filename: str = ""
    locked_sha256: tuple[str, ...] = ()
    role: str = "build-backend"

    @property
    def recorded_by(self) -> str:
        if self.sha256:
            return FROM_PIP_REPORT
        return FROM_LOCK if self.locked_sha256 else UNRECORDED

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "filename": self.filename,
            "lockedSha256": list(self.locked_sha256),
            "role": self.role,
            "recordedBy": self.recorded_by,
        }

    @classmethod
    def from_json(cls, data: Any) -> Artefact:
        if not isinstance(data, dict):
            raise ValueError("a package entry is not an object")
        sha256 = data.get("sha256")
        locked = data.get("lockedSha256", [])
        if not isinstance(locked, list):
            raise ValueError("'lockedSha256' is not a list")
        return cls(
            name=_text(data, "name"),
            version=_text(data, "version"),
            sha256=None if sha256 is None else _hex(sha256),
            filename=str(data.get("filename", "")),
            locked_sha256=tuple(_hex(h) for h in locked),
            role=str(data.get("role", "build-backend")),
        )


@dataclass(frozen=True)
class ToolchainRecord:
    """The toolchain of one build, and the distributions (name -> sha256) it produced."""

    packages: tuple[Artefact, ...]
    distributions: dict[str, str] = field(default_factory=dict)
    lock_sha256: str = ""

    def to_bytes(self) -> bytes:
        doc = {
            "_type": RECORD_TYPE,
            "lockSha256": self.lock_sha256,
            "distributions": dict(sorted(self.distributions.items())),
            "packages": [p.to_json() for p in self.packages],
        }
        return (json.dumps(doc, indent=2) + "\n").encode()

    def describes(self, filename: str, sha256: str) -> bool:
        return self.distributions.get(filename) == sha256


def write_record(path: Path, record: ToolchainRecord) -> None:
    write_atomically(path, record.to_bytes())


def read_record(path: Path) -> ToolchainRecord | None:
    """The record at `path`, None when there is none; UsageError when it is unusable."""
    data = read_optional_json(path)
    if data is None:
        return None
    try:
        if not isinstance(data, dict) or data.get("_type") != RECORD_TYPE:
            raise ValueError("not a build-toolchain record")
        dists = data.get("distributions")
        if not isinstance(dists, dict) or not isinstance(data.get("packages"), list):
            raise ValueError("needs 'distributions' and 'packages'")
        return ToolchainRecord(
            packages=tuple(Artefact.from_json(p) for p in data["packages"]),
            distributions={str(k): _hex(v) for k, v in dists.items()},
            lock_sha256=str(data.get("lockSha256", "")),
        )
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"a package entry lacks {key!r}")
    return value


def _hex(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 64 or value.strip("0123456789abcdef"):
        raise ValueError(f"not a sha256 hex digest: {value!r}")
    return value
