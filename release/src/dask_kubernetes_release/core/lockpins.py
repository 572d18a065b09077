"""What a lock file pins, held to the SBOM `release lock` wrote with it.

Why one place: `check` compares the lock files in DIR with the sbom.cdx.json beside them,
`verify` with the SBOM signed in the lock's own statement, and both read every line of a
requirements file and every package of a pylock file, not just the first. A lock passes when it
carries only the options `release lock` writes (`--find-links .`), every pin is the SBOM's root
(our release, hashes among its distributions' digests) or one of its components (name, version,
hashes among that component's files), and for each Python and platform the project supports it
selects one version per package. The SBOM file must be the signed document itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packaging.markers import Marker, UndefinedEnvironmentName
from packaging.pylock import PackageSdist, PackageWheel, Pylock, PylockValidationError
from packaging.utils import NormalizedName, canonicalize_name

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.lockfiles import lock_kind
from dask_kubernetes_release.core.matrix import PLATFORMS, PYTHONS, environment
from dask_kubernetes_release.core.requirements import read_requirements_file
from dask_kubernetes_release.core.statements import distribution_digests, root_digests

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# The option lines `release lock` writes in a requirements file (lock/command.py): our own
# files are found beside it. Any other (an extra index, a trusted host...) is refused.
OWN_OPTIONS = frozenset({"--find-links ."})


@dataclass(frozen=True)
class Pin:
    name: NormalizedName
    version: str
    hashes: frozenset[str]  # hex sha256 of the files the lock accepts
    marker: Marker | None


@dataclass(frozen=True)
class Inventory:
    """An SBOM as the locks are compared with it."""

    root: tuple[NormalizedName, str]
    root_digests: frozenset[str]
    components: dict[tuple[NormalizedName, str], frozenset[str]]

    def pinned(self) -> set[tuple[NormalizedName, str]]:
        return {self.root, *self.components}


def parse_pylock(text: str, name: str) -> Pylock:
    """The text validated by `packaging.pylock` (PEP 751); UsageError if it is not valid."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
        return Pylock.from_dict(data)
    except (tomllib.TOMLDecodeError, PylockValidationError) as exc:
        raise UsageError(f"{name} is not a valid PEP 751 lock: {exc}") from None


def inventory(bom: dict[str, Any]) -> Inventory:
    """The root (name, version) with its digests, and every component's files."""
    metadata = bom.get("metadata")
    root = metadata.get("component") if isinstance(metadata, dict) else None
    root = root if isinstance(root, dict) else {}
    listed = bom.get("components")
    components = {
        (
            canonicalize_name(str(c.get("name", ""))),
            str(c.get("version", "")),
        ): distribution_digests(c.get("externalReferences"))
        for c in (listed if isinstance(listed, list) else [])
        if isinstance(c, dict)
    }
    return Inventory(
        (canonicalize_name(str(root.get("name", ""))), str(root.get("version", ""))),
        frozenset(root_digests(bom)),
        components,
    )


def lock_pins(name: str, text: str) -> tuple[list[Pin], list[str]]:
    """Every pin of a requirements or pylock file, and what cannot be a pin of ours."""
    if lock_kind(name) == "pylock":
        return _pylock_pins(name, text)
    found = read_requirements_file(text)
    problems = [
        f"option {option!r} is not one `release lock` writes"
        for option in found.options
        if option not in OWN_OPTIONS
    ]
    problems += list(found.refused)
    pins = []
    for entry in found.pins:
        if not all(h.startswith("sha256:") for h in entry.hashes):
            problems.append(f"{entry.requirement.name} {entry.version}: a hash other than sha256")
        digests = frozenset(h.removeprefix("sha256:").lower() for h in entry.hashes)
        pins.append(Pin(entry.name, entry.version, digests, entry.requirement.marker))
    return pins, problems


def _pylock_pins(name: str, text: str) -> tuple[list[Pin], list[str]]:
    try:
        lock = parse_pylock(text, name)
    except UsageError as exc:
        return [], [str(exc)]
    pins: list[Pin] = []
    problems: list[str] = []
    for package in lock.packages:
        if package.version is None:
            problems.append(f"{package.name} has no version")
            continue
        files: list[PackageWheel | PackageSdist] = [*(package.wheels or ())]
        if package.sdist is not None:
            files.append(package.sdist)
        digests = frozenset(str(f.hashes.get("sha256", "")).lower() for f in files)
        pins.append(
            Pin(canonicalize_name(package.name), str(package.version), digests, package.marker)
        )
    return pins, problems


def _against(pin: Pin, bom: Inventory, label: str) -> list[str]:
    if (pin.name, pin.version) == bom.root:
        accepted = bom.root_digests
    elif (pin.name, pin.version) in bom.components:
        accepted = bom.components[(pin.name, pin.version)]
    else:
        return [f"{pin.name} {pin.version} is not in {label}"]
    if not pin.hashes or not pin.hashes <= accepted:
        return [f"{pin.name} {pin.version}: hashes that {label} does not list"]
    return []


def one_version_each(pins: Iterable[Pin]) -> list[str]:
    """Each package selected at most once for every (Python, platform) the project supports."""
    pins = list(pins)
    problems: dict[str, str] = {}
    for python in PYTHONS:
        for platform in PLATFORMS:
            env = {key: str(value) for key, value in environment(python, platform).items()}
            chosen: dict[str, set[str]] = {}
            for pin in pins:
                try:
                    selected = pin.marker is None or pin.marker.evaluate({**env, "extra": ""})
                except UndefinedEnvironmentName as exc:  # `extras`, `dependency_groups`...
                    problems.setdefault(pin.name, f"{pin.name}: a marker we never write ({exc})")
                    continue
                if selected:
                    chosen.setdefault(pin.name, set()).add(pin.version)
            for package, versions in chosen.items():
                if len(versions) > 1 and package not in problems:
                    where = f"{python[0]}.{python[1]}/{platform.name}"
                    listed = ", ".join(sorted(versions))
                    problems[package] = (
                        f"{package} is selected in {len(versions)} versions on {where} ({listed})"
                    )
    return list(problems.values())


def lock_problems(name: str, text: str, bom: dict[str, Any], label: str) -> list[str]:
    """Why lock file `name` (its `text`) does not agree with `bom`; empty when it does."""
    if lock_kind(name) == "sbom":
        try:
            same = json.loads(text) == bom
        except ValueError:
            same = False
        return [] if same else [f"differs from {label}"]
    pins, problems = lock_pins(name, text)
    listed = inventory(bom)
    for pin in pins:
        problems += _against(pin, listed, label)
    return problems + one_version_each(pins)


def lock_root(name: str, text: str) -> str | None:
    """The project a lock file is for (its own pin, which `release lock` writes), else None.

    `verify` picks the project's default policy with it before anything is verified."""
    kind = lock_kind(name)
    if kind == "sbom":
        try:
            bom = json.loads(text)
        except ValueError:
            return None
        root = inventory(bom).root[0] if isinstance(bom, dict) else ""
        return root or None
    if kind == "requirements":
        pins = read_requirements_file(text).pins
        return pins[0].name if pins else None
    try:
        lock = parse_pylock(text, name)
    except UsageError:
        return None
    own = [p for p in lock.packages if any(w.path for w in p.wheels or ())]
    return canonicalize_name(own[0].name) if len(own) == 1 else None
