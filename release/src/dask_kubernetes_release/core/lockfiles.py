"""The files `release lock` writes beside the distributions, by name.

Why a module of its own: the manifest lists them, `check` re-hashes them, `_dists` lets them sit
next to the distributions and release.yml attaches them; all of those must agree on the names,
and none of them should import the resolver to learn them. Standard library only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

# Per project released: the extras users install, each locked in files of its own, and the
# wheel's other extras with the reason they are not locked; an extra in neither stops `release
# lock`. The verifier (dask-kubernetes-release) is locked for its base install only: that is what
# a security team installs, and its maintainers use release/requirements.lock from a clone.
LOCKED_EXTRAS_OF: dict[str, tuple[str, ...]] = {
    "dask-kubernetes": ("local",),
    "dask-kubernetes-release": (),
}
UNLOCKED_EXTRAS_OF: dict[str, dict[str, str]] = {
    "dask-kubernetes": {
        "test": "the project's own test tooling, not for users",
        "gateway": "a server installed into the gateway's image (dask-gateway-server with its Go "
        "proxy binary); pinned with hashes in tests/requirements.lock, not a user's client lock",
    },
    "dask-kubernetes-release": {
        "maintainer": "build, lock, attest, tag; a clone installs release/requirements.lock"
    },
}
LOCKED_EXTRAS = LOCKED_EXTRAS_OF["dask-kubernetes"]
UNLOCKED_EXTRAS = UNLOCKED_EXTRAS_OF["dask-kubernetes"]

REQUIREMENTS_NAME = "requirements.txt"
PYLOCK_NAME = "pylock.toml"
SBOM_NAME = "sbom.cdx.json"


def requirements_name(extra: str | None) -> str:
    """`requirements.txt` for the base install, `requirements-EXTRA.txt` with an extra."""
    return REQUIREMENTS_NAME if extra is None else f"requirements-{extra}.txt"


def pylock_name(extra: str | None) -> str:
    """`pylock.toml`, or PEP 751's named form `pylock.EXTRA.toml`."""
    return PYLOCK_NAME if extra is None else f"pylock.{extra}.toml"


def targets_of(project: str) -> tuple[str | None, ...]:
    """What `release lock` writes files for: the base install, then each locked extra."""
    return (None, *LOCKED_EXTRAS_OF[project])


TARGETS: tuple[str | None, ...] = targets_of("dask-kubernetes")
LOCK_NAMES: tuple[str, ...] = (
    *(requirements_name(extra) for extra in TARGETS),
    *(pylock_name(extra) for extra in TARGETS),
    SBOM_NAME,
)


def has_lock(directory: Path) -> bool:
    """Whether `release lock` has written its files in `directory` (its pylock.toml is there)."""
    return (Path(directory) / PYLOCK_NAME).is_file()


def lock_files(directory: Path) -> list[Path]:
    """The lock's files present in `directory`, sorted by name; none before `release lock`."""
    if not has_lock(directory):
        return []
    return sorted((p for n in LOCK_NAMES if (p := Path(directory) / n).is_file()), key=str)


# Any name `release lock` could write, for any extra (`requirements-X.txt`, `pylock.X.toml`),
# and the names another project's lock files are published under beside ours
# (`published_lock_name`): `verify DIR` checks every such file present, so an added
# `requirements-extra.txt` is a file to verify, not one to overlook.
_PREFIX = r"(?:[A-Za-z0-9][A-Za-z0-9._-]*-)?"
_LOCK_NAME = re.compile(
    rf"(?P<requirements>{_PREFIX}requirements(?:-[A-Za-z0-9._-]+)?\.txt)"
    r"|(?P<pylock>pylock(?:\.[A-Za-z0-9_-]+)?\.toml)"
    rf"|(?P<sbom>{_PREFIX}{re.escape(SBOM_NAME)})"
)

LockKind = Literal["requirements", "pylock", "sbom"]


def lock_kind(name: str) -> LockKind | None:
    """Which of the lock's files a name is, or None when it names none of them."""
    match = _LOCK_NAME.fullmatch(name)
    if match is None:
        return None
    kind = match.lastgroup
    assert kind in ("requirements", "pylock", "sbom")
    return kind  # type: ignore[return-value]


def present_lock_files(directory: Path) -> list[Path]:
    """Every file in `directory` named like a lock file, sorted: what `attest` signs and
    `verify DIR` checks (the manifest's requirements.txt too, before any `release lock`)."""
    return sorted(
        (p for p in Path(directory).iterdir() if p.is_file() and lock_kind(p.name)), key=str
    )


def published_lock_name(name: str, project: str) -> str:
    """The name lock file `name` of `project` is attached under among another project's files
    (release.yml's GitHub release: `dask-kubernetes-release-requirements.txt`,
    `pylock.dask-kubernetes-release.toml`), where the plain names are taken."""
    return f"pylock.{project}.toml" if name == PYLOCK_NAME else f"{project}-{name}"


def signed_lock_name(filename: str, project: str) -> str:
    """The name `release attest` signed a lock file of `project` under: `filename` itself,
    or the plain name it was published under (`published_lock_name`)."""
    for name in LOCK_NAMES:
        if filename == published_lock_name(name, project):
            return name
    return filename
