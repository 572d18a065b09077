"""Build the sdist and wheel of the committed tree, byte-for-byte reproducibly.

pypa `build` drives the backend inside a separate environment holding only the hash-locked
build requirements (release/requirements.lock). Timestamps come from the commit
(SOURCE_DATE_EPOCH), so two builds of one commit give identical files. The wheel is built from
the sdist, as `python -m build` does, and both must pass `twine check --strict`. A work tree
with uncommitted changes is refused unless --allow-dirty.

Distributions and manifests already in the output directory are replaced, and
`build-toolchain.json` records the exact toolchain used (for `release attest`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.paths import (
    RELEASE_LOCK_PATH,
    release_lock,
    repository_root,
    toolkit_source,
)

if TYPE_CHECKING:
    from build import DistributionType as _Kind
    from build import RunnerType as _Runner

DEFAULT_OUT = Path("dist")
LOCK = RELEASE_LOCK_PATH


def build_env_cache() -> Path:
    """Where the locked build environments are kept: the clone's .cache/build-env, or outside a
    clone (`rebuild` of a downloaded release) the user's cache directory."""
    try:
        return repository_root() / ".cache" / "build-env"
    except UsageError:
        user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return user_cache / "dask-kubernetes-release" / "build-env"


def build_distributions(
    out: Path,
    *,
    allow_dirty: bool = False,
    source: Path | None = None,
    cache: Path | None = None,
    lock: Path | None = None,
) -> list[Path]:
    """Build `source`'s sdist and wheel into `out`; returns their paths (sdist first).

    `lock` holds the build backend's pins (default: the source's release/requirements.lock;
    the toolkit in release/ is built with the clone's). `source` defaults to the clone
    (core/paths.py), `cache` to `build_env_cache()`."""
    from dask_kubernetes_release.build.env import ensure_build_env
    from dask_kubernetes_release.core.git import Git

    source = (repository_root() if source is None else Path(source)).resolve()
    cache = build_env_cache() if cache is None else cache
    git = Git(source, failure=UsageError)
    if not allow_dirty:
        git.require_clean()
    epoch = git.commit_timestamp()
    requires = _build_system_requires(source)
    lock = source / LOCK if lock is None else Path(lock)
    env = ensure_build_env(requires, lock, cache)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".build-") as scratch:
        built = _run_backend(source, Path(scratch), env, epoch)
        twine_check(built)
        final = _publish(built, out)
    _record_toolchain(final, env, lock)
    return final


def _record_toolchain(dists: list[Path], env: Path, lock: Path) -> None:
    """Write `build-toolchain.json` beside `dists`: the frontend and every backend artefact."""
    import hashlib
    import importlib.metadata

    from dask_kubernetes_release.build.env import installed_artefacts
    from dask_kubernetes_release.build.toolchain import Artefact, ToolchainRecord, write_record
    from dask_kubernetes_release.core.digests import sha256_file
    from dask_kubernetes_release.core.dists import TOOLCHAIN_NAME
    from dask_kubernetes_release.core.requirements import read_lock

    running = importlib.metadata.version("build")  # pypa build runs in this process
    locked = read_lock(lock).get(canonicalize_name("build"))
    hashes = locked.hashes if locked is not None and locked.version == running else ()
    frontend = Artefact(
        name="build",
        version=running,
        sha256=None,  # its install left no record of the artefact; the lock's list stands in
        locked_sha256=tuple(h.removeprefix("sha256:") for h in hashes),
        role="build-frontend",
    )
    record = ToolchainRecord(
        packages=(frontend, *installed_artefacts(env)),
        distributions={path.name: sha256_file(path) for path in dists},
        lock_sha256=hashlib.sha256(lock.read_bytes()).hexdigest(),
    )
    write_record(dists[0].parent / TOOLCHAIN_NAME, record)


def _build_system_requires(source: Path) -> list[str]:
    from build import BuildException, ProjectBuilder

    try:
        return sorted(ProjectBuilder(source).build_system_requires)
    except BuildException as exc:
        raise UsageError(f"cannot build {source}: {exc}") from None


def _run_backend(source: Path, scratch: Path, env: Path, epoch: int) -> list[Path]:
    """sdist from the tree, then the wheel from the unpacked sdist."""
    from build import BuildBackendException

    errors: list[str] = []
    runner = _quiet_runner({"SOURCE_DATE_EPOCH": str(epoch)}, errors)
    try:
        sdist = _build_one(source, "sdist", scratch / "out", env, runner)
        unpacked = _unpack(sdist, scratch / "unpacked")
        wheel = _build_one(unpacked, "wheel", scratch / "out", env, runner)
    except BuildBackendException as exc:
        detail = errors[-1] if errors else str(exc)
        raise UsageError(f"build backend failed: {detail}") from None
    return [sdist, wheel]


def _build_one(source: Path, kind: _Kind, into: Path, env: Path, runner: _Runner) -> Path:
    """One distribution, after making sure the backend asks for nothing the lock lacks."""
    from build import ProjectBuilder
    from packaging.requirements import InvalidRequirement

    from dask_kubernetes_release.build.env import env_python, unsatisfied

    builder = ProjectBuilder(source, python_executable=str(env_python(env)), runner=runner)
    asked = builder.get_requires_for_build(kind)
    try:
        missing = unsatisfied(env, asked)
    except (InvalidRequirement, TypeError):
        raise UsageError(f"the {kind} backend asks for unusable requirements") from None
    if missing:
        raise UsageError(f"the {kind} backend also needs {', '.join(sorted(missing))}")
    return Path(builder.build(kind, into))


def _quiet_runner(extra: Mapping[str, str], errors: list[str]) -> _Runner:
    def run(
        cmd: Sequence[str], cwd: str | None = None, extra_environ: Mapping[str, str] | None = None
    ) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env.update(extra_environ or {})
        env.update(extra)
        result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            errors.append(lines[-1] if lines else f"exit {result.returncode}")
            raise subprocess.CalledProcessError(
                result.returncode, cmd, result.stdout, result.stderr
            )

    return run


def _unpack(sdist: Path, into: Path) -> Path:
    """The sdist's one top-level directory, extracted; UsageError for anything else."""
    try:
        archive = tarfile.open(sdist)  # noqa: SIM115 - closed below; its errors differ
    except (OSError, tarfile.TarError, EOFError, zlib.error):
        raise UsageError(f"{sdist.name} is not a usable sdist: not a tar archive") from None
    try:
        with archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(into, filter="data")
            else:  # Python < 3.10.12: our own, just-built archive
                archive.extractall(into)  # noqa: S202
    except (OSError, tarfile.TarError, EOFError, zlib.error) as exc:
        detail = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"{sdist.name} is not a usable sdist: {detail}") from None
    tops = sorted(into.iterdir()) if into.is_dir() else []
    if len(tops) != 1 or tops[0].is_symlink() or not tops[0].is_dir():
        found = ", ".join(p.name for p in tops) or "nothing"
        raise UsageError(f"{sdist.name}: an sdist holds one top-level directory, not {found}")
    return tops[0]


def twine_check(paths: list[Path]) -> None:
    """`twine check --strict`: the metadata and README must render as PyPI would."""
    command = [sys.executable, "-m", "twine", "check", "--strict", *map(str, paths)]
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        failed = [
            line for line in result.stdout.splitlines() if "FAILED" in line or "ERROR" in line
        ]
        raise CheckFailed("twine check --strict failed: " + " | ".join(failed or ["see twine"]))


def _publish(built: list[Path], out: Path) -> list[Path]:
    """Move the new files into `out`, first removing what described an older build there."""
    from dask_kubernetes_release.core.dists import is_companion_name, is_distribution_name

    for old in out.iterdir():
        stale = is_distribution_name(old.name) or (
            is_companion_name(old.name) and not old.name.startswith(".")
        )
        if stale and (old.is_file() or old.is_symlink()):
            old.unlink()
    final = [out / path.name for path in built]
    for path, target in zip(built, final, strict=True):
        path.replace(target)
    return final


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help="default: dist/"
    )
    parser.add_argument(
        "--allow-dirty", action="store_true", help="build even with uncommitted changes"
    )
    parser.add_argument(
        "--toolkit",
        action="store_true",
        help="build the verifier (dask-kubernetes-release, release/) instead; "
        "release.yml puts it in dist/toolkit/",
    )


def build_toolkit(out: Path, *, allow_dirty: bool = False) -> list[Path]:
    """The verifier's sdist and wheel, built like the project's, with the clone's toolchain lock."""
    return build_distributions(
        out, allow_dirty=allow_dirty, source=toolkit_source(), lock=release_lock()
    )


def run(args: argparse.Namespace) -> int:
    if args.toolkit:
        paths = build_toolkit(args.out, allow_dirty=args.allow_dirty)
    else:
        paths = build_distributions(args.out, allow_dirty=args.allow_dirty)
    for path in paths:
        print(path)
    return 0
