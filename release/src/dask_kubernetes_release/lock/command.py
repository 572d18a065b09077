"""Lock the release's runtime dependency closure, with the sha256 of every file, beside DIR.

`python -m release lock DIR` reads the wheel in DIR, resolves its dependencies (the base install
and each extra users install) with uv's universal resolver for Python 3.10-3.13 on Linux,
macOS and Windows, and writes:

  requirements.txt, requirements-EXTRA.txt   for `pip install --require-hashes -r ...`
  pylock.toml, pylock.EXTRA.toml              PEP 751, for `uv pip install -r pylock.toml`
  sbom.cdx.json                               CycloneDX SBOM of the locked closure

Our own line (wheel and sdist digests) comes from the files in DIR, every other line from the
resolver. Each (Python, platform) pair is then checked to select exactly one version of every
package, the same in both files. Finally manifest.json and SHA256SUMS are rewritten to list
these files. Exit 2 when DIR or the resolution is unusable, 1 when a check fails.
"""

from __future__ import annotations

import argparse
import zipfile
from dataclasses import dataclass
from email.parser import BytesParser
from pathlib import Path

from packaging.pylock import PackageSdist, PackageWheel, Pylock
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from dask_kubernetes_release.core.dists import find_distributions, parse_distribution_name
from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.files import write_atomically
from dask_kubernetes_release.core.lockfiles import (
    LOCKED_EXTRAS_OF,
    UNLOCKED_EXTRAS_OF,
    pylock_name,
    requirements_name,
    targets_of,
)
from dask_kubernetes_release.core.lockpins import parse_pylock
from dask_kubernetes_release.core.matrix import check_matrix
from dask_kubernetes_release.core.requirements import logical_lines, split_entry
from dask_kubernetes_release.lock.release import Release
from dask_kubernetes_release.lock.uv import MIN_PYTHON, compile_lock
from dask_kubernetes_release.manifest.records import record_file


@dataclass(frozen=True)
class Locked:
    extra: str | None
    requirements: str
    pylock: str
    parsed: Pylock


def read_release(directory: Path) -> Release:
    paths = find_distributions(directory)
    wheels = [p for p in paths if parse_distribution_name(p.name).kind == "wheel"]
    if len(wheels) != 1:
        raise UsageError(f"{directory}: lock needs exactly one wheel, found {len(wheels)}")
    dists = {
        (d.project, str(d.version)) for d in map(parse_distribution_name, (p.name for p in paths))
    }
    if len(dists) != 1:
        raise UsageError(f"{directory} mixes several releases")
    ((project, version),) = dists
    return Release(
        project, version, wheels[0], tuple(record_file(p) for p in paths), _wheel_extras(wheels[0])
    )


def _wheel_extras(wheel: Path) -> tuple[str, ...]:
    try:
        with zipfile.ZipFile(wheel) as archive:
            (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
            metadata = BytesParser().parsebytes(archive.read(name), headersonly=True)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise UsageError(f"cannot read the metadata of {wheel.name}: {exc}") from None
    return tuple(metadata.get_all("Provides-Extra") or ())


def check_extras(release: Release) -> None:
    """Every extra the wheel declares is locked or deliberately not; a new one stops the lock."""
    if release.project not in LOCKED_EXTRAS_OF:
        raise UsageError(f"{release.project} is not a project this toolkit locks")
    locked, unlocked = LOCKED_EXTRAS_OF[release.project], UNLOCKED_EXTRAS_OF[release.project]
    unknown = sorted(set(release.extras) - {*locked, *unlocked})
    if unknown:
        raise UsageError(
            f"{release.wheel.name} declares extras neither locked nor excluded: "
            f"{', '.join(unknown)} (dask_kubernetes_release/core/lockfiles.py)"
        )
    missing = sorted(set(locked) - set(release.extras))
    if missing:
        raise UsageError(f"{release.wheel.name} lacks the locked extras {', '.join(missing)}")


def _spec(release: Release, extra: str | None) -> str:
    return release.project + (f"[{extra}]" if extra else "")


def resolve(release: Release) -> list[Locked]:
    """Every target, all constrained to the widest one's pins (the extras are supersets)."""
    locked_extras = LOCKED_EXTRAS_OF[release.project]
    widest = locked_extras[-1] if locked_extras else None
    url = release.wheel.resolve().as_uri()
    first = compile_lock(f"{_spec(release, widest)} @ {url}", "requirements.txt", release.project)
    pins = "".join(split_entry(entry)[0] + "\n" for entry in logical_lines(first))
    locked = []
    for extra in targets_of(release.project):
        requirement = f"{_spec(release, extra)} @ {url}"
        body = (
            first
            if extra == widest
            else compile_lock(requirement, "requirements.txt", release.project, pins)
        )
        pylock_body = compile_lock(requirement, "pylock.toml", release.project, pins)
        pylock = render_pylock(release, pylock_body)
        parsed = parse_pylock(pylock, pylock_name(extra))
        requirements = render_requirements(release, extra, locked_files_only(body, parsed))
        locked.append(Locked(extra, requirements, pylock, parsed))
    return locked


def locked_files_only(body: str, lock: Pylock) -> str:
    """uv's requirements with only the hashes of the files its pylock lists for that version.

    uv's requirements.txt accepts every file of a version, its pylock.toml only the files that
    install on the supported Pythons (no cp39 wheel of a dependency, since we need 3.10). The
    SBOM is made from the pylock, and `check`/`verify` refuse a lock that accepts a file the
    SBOM does not list (core/lockpins.py): both locks accept the same files.
    """
    allowed: dict[tuple[str, str], set[str]] = {}
    for package in lock.packages:
        files: list[PackageWheel | PackageSdist] = [*(package.wheels or ())]
        if package.sdist is not None:
            files.append(package.sdist)
        key = (canonicalize_name(package.name), str(package.version))
        allowed[key] = {str(file.hashes.get("sha256", "")) for file in files}
    out: list[str] = []
    current: tuple[str, str] | None = None
    hashes: list[str] = []

    def flush() -> None:
        kept = [h for h in hashes if current not in allowed or h in allowed[current]]
        kept = kept or hashes  # never leave a pin without hashes: the check names it instead
        last = len(kept) - 1
        out.extend(
            f"    --hash=sha256:{h}" + (" \\" if i < last else "") for i, h in enumerate(kept)
        )
        hashes.clear()

    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith("--hash=sha256:"):
            hashes.append(stripped.removeprefix("--hash=sha256:").rstrip(" \\"))
            continue
        if hashes:
            flush()
        if line and not line[0].isspace() and not line.startswith(("#", "-")):
            requirement = Requirement(line.rstrip(" \\"))
            versions = [s.version for s in requirement.specifier if s.operator == "=="]
            current = (canonicalize_name(requirement.name), versions[0] if versions else "")
        out.append(line)
    if hashes:
        flush()
    return "\n".join(out) + "\n"


def own_requirement(release: Release, extra: str | None) -> str:
    """Our line: the project (with the extra) pinned, the wheel's and sdist's sha256."""
    hashes = "".join(f" \\\n    --hash=sha256:{r.sha256}" for r in release.files)
    return f"{_spec(release, extra)}=={release.version}{hashes}\n"


def render_requirements(release: Release, extra: str | None, body: str) -> str:
    install = f"pip install --require-hashes -r {requirements_name(extra)}"
    header = (
        f"# {_spec(release, extra)} {release.version} and every dependency, pinned with\n"
        f"# the sha256 of each file, for Python >={MIN_PYTHON} on any platform (markers).\n"
        f"#   {install}\n"
        "# Written by `python -m release lock` (uv's universal resolution); do not edit.\n"
    )
    # pip reads a relative --find-links in a requirements file relative to the file itself:
    # our own files are found beside it; hashes decide what is accepted, not where it is found.
    return header + own_requirement(release, extra) + "--find-links .\n" + body


def render_pylock(release: Release, body: str) -> str:
    """uv's pylock with our own package appended: its files by relative path beside the lock."""
    entries = [f'name = "{release.project}"', f'version = "{release.version}"']
    for record in release.files:
        file = (
            f'{{ name = "{record.filename}", path = "./{record.filename}", '
            f'size = {record.size}, hashes = {{ sha256 = "{record.sha256}" }} }}'
        )
        if record.python_tag == "source":
            entries.append(f"sdist = {file}")
        else:
            entries.append(f"wheels = [{file}]")
    return body.rstrip("\n") + "\n\n[[packages]]\n" + "\n".join(entries) + "\n"


def check(locked: list[Locked]) -> int:
    """The matrix check of every target; returns how many (target, Python, platform) passed."""
    return sum(
        len(check_matrix(requirements_name(item.extra), item.requirements, item.parsed))
        for item in locked
    )


def write_lock(directory: Path) -> list[str]:
    """Resolve, check, write the lock files and refresh the manifest; returns the names written."""
    from dask_kubernetes_release.manifest.command import write_manifest

    directory = Path(directory)
    release = read_release(directory)
    check_extras(release)
    locked = resolve(release)
    pairs = check(locked)
    print(f"markers: one version per package in {pairs} (target, Python, platform) cases")
    written = []
    # pylock.toml last: its presence is what marks a directory as locked (core.lockfiles.has_lock).
    for item in locked:
        write_atomically(directory / requirements_name(item.extra), item.requirements)
        written.append(requirements_name(item.extra))
    from dask_kubernetes_release.lock.sbom import write_sbom

    written.append(write_sbom(directory, release, [item.parsed for item in locked]))
    for item in sorted(locked, key=lambda i: i.extra is None):
        write_atomically(directory / pylock_name(item.extra), item.pylock)
        written.append(pylock_name(item.extra))
    write_manifest(directory)
    return written


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, metavar="DIR")


def run(args: argparse.Namespace) -> int:
    written = write_lock(args.directory)
    print(f"wrote {', '.join(written)} in {args.directory}")
    return 0
