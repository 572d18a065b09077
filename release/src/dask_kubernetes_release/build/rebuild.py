"""Rebuild a published wheel from its sdist and say whether the bytes are identical.

`python -m release rebuild WHEEL SDIST` (or DIR holding both) is for a security team checking
a release on its own: the sdist is unpacked, the build backend is installed with hashes from
the toolchain the release recorded (`build-toolchain.json` beside the files, when it describes
this very wheel; otherwise the hash-locked `release/requirements.lock` of this checkout, and the
report says so), the wheel is built with SOURCE_DATE_EPOCH taken from the sdist's own
timestamps, and the result is compared byte for byte with the published wheel. When they
differ, the first differing archive member is named (missing, extra, content, timestamp, mode
or order). Exit 0 identical, 1 different, 2 unusable input. The build machinery is
`release build`'s own (build.command, build.env), not a copy.

What runs, and where: the sdist's build backend is code from the sdist (an in-tree backend, a
build hook, setup.py), so every backend hook runs in a sandbox (build/sandbox.py): fresh
namespaces via util-linux `unshare`, no network, every mount read-only except a private scratch
directory, /tmp, /run and the home directories hidden, an unprivileged user (nobody when run as
root) without capabilities, and an empty environment. The toolkit itself (unpacking, installing
the hash-locked toolchain, comparing) runs as the caller and never imports the sdist's code.
When no sandbox can be made the command stops (exit 2); --no-sandbox runs the backend as the
caller, with network, and says so on every run.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from dask_kubernetes_release.build.command import (
    LOCK,
    _build_one,
    _build_system_requires,
    _quiet_runner,
    _unpack,
    build_env_cache,
)
from dask_kubernetes_release.build.sandbox import BUILT_MAX_BYTES, Sandbox
from dask_kubernetes_release.build.toolchain import read_record
from dask_kubernetes_release.core.digests import sha256_file
from dask_kubernetes_release.core.dists import (
    TOOLCHAIN_NAME,
    find_distributions,
    parse_distribution_name,
)
from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.paths import release_lock


@dataclass(frozen=True)
class Rebuild:
    wheel: str
    toolchain: str  # where the backend's pins came from
    identical: bool
    difference: str = ""


def toolchain_lock(wheel: Path, scratch: Path) -> tuple[Path, str]:
    """A lock for the build environment: the release's recorded toolchain, else ours."""
    record = read_record(wheel.parent / TOOLCHAIN_NAME)
    if record is not None and record.describes(wheel.name, sha256_file(wheel)):
        lines = []
        for package in record.packages:
            if package.role != "build-backend":
                continue
            hashes = [package.sha256] if package.sha256 else list(package.locked_sha256)
            pins = " ".join(f"--hash=sha256:{h}" for h in hashes)
            lines.append(f"{package.name}=={package.version} {pins}\n")
        lock = scratch / "recorded-toolchain.lock"
        lock.write_text("".join(lines), encoding="utf-8")
        return lock, f"{TOOLCHAIN_NAME} (the release's recorded build toolchain)"
    return release_lock(), f"{LOCK} of this checkout (the release recorded no toolchain)"


def sdist_epoch(sdist: Path) -> int:
    """The sdist's newest member timestamp: a reproducible build stamps all with the commit's."""
    try:
        with tarfile.open(sdist) as archive:
            return max(int(member.mtime) for member in archive.getmembers())
    except (OSError, tarfile.TarError, ValueError) as exc:
        raise UsageError(f"cannot read {sdist}: {exc}") from None


def first_difference(published: Path, rebuilt: Path) -> str:
    """The first archive member that differs, and how; "" when the archives are identical."""
    if published.read_bytes() == rebuilt.read_bytes():
        return ""
    with zipfile.ZipFile(published) as ours, zipfile.ZipFile(rebuilt) as theirs:
        old, new = ours.infolist(), theirs.infolist()
        for a, b in zip(old, new, strict=False):
            if a.filename != b.filename:
                return f"{a.filename}: member order or name differs (rebuilt has {b.filename})"
            if ours.read(a) != theirs.read(b):
                return f"{a.filename}: content differs"
            if a.date_time != b.date_time:
                return f"{a.filename}: timestamp {a.date_time} != {b.date_time}"
            if a.external_attr != b.external_attr:
                return f"{a.filename}: mode differs"
        if len(old) != len(new):
            longer, which = (old, "published") if len(old) > len(new) else (new, "rebuilt")
            return f"{longer[min(len(old), len(new))].filename}: only in the {which} wheel"
    return "archive bytes differ outside the members (compression or zip headers)"


UNCONFINED_WARNING = (
    "warning: --no-sandbox: the sdist's build code runs as {user}, with network access "
    "and write access to everything {user} can write"
)


def rebuild(
    wheel: Path, sdist: Path, cache: Path | None = None, *, sandboxed: bool = True
) -> Rebuild:
    from build import BuildBackendException

    from dask_kubernetes_release.build.env import ensure_build_env

    with tempfile.TemporaryDirectory(prefix="release-rebuild-") as tmp:
        scratch = Path(tmp).resolve()
        sandbox = Sandbox(scratch, readable=[Path(sys.base_prefix)]) if sandboxed else None
        work = scratch / "sandbox"
        unpacked = _unpack(sdist, work / "unpacked")
        lock, source = toolchain_lock(wheel, scratch)
        env = ensure_build_env(_build_system_requires(unpacked), lock, cache or build_env_cache())
        errors: list[str] = []
        extra = {"SOURCE_DATE_EPOCH": str(sdist_epoch(sdist))}
        if sandbox is not None:
            sandbox.readable.append(env.resolve())
            sandbox.hand_over()
            sandbox.probe()
            runner = sandbox.runner(extra, errors)
        else:
            runner = _quiet_runner(extra, errors)
        try:
            built = _build_one(unpacked, "wheel", work / "out", env, runner)
        except BuildBackendException as exc:
            raise UsageError(f"build backend failed: {errors[-1] if errors else exc}") from None
        rebuilt = _built_wheel(built, work / "out")
        if sandbox is not None:
            rebuilt = sandbox.take_out(rebuilt, scratch, BUILT_MAX_BYTES)
        try:
            difference = first_difference(wheel, rebuilt)
        except zipfile.BadZipFile as exc:
            difference = f"not comparable as wheels ({exc})"
        if not difference and rebuilt.name != wheel.name:
            difference = f"file name differs: rebuilt {rebuilt.name}"
    return Rebuild(wheel.name, source, not difference, difference)


def _built_wheel(path: Path, out: Path) -> Path:
    """The backend names its wheel: it must be a regular file right in the output directory."""
    if path.parent != out or path.is_symlink() or path.suffix != ".whl":
        raise UsageError(f"build backend failed: it named no wheel in its output ({path.name!r})")
    return path


def _inputs(paths: list[Path]) -> tuple[Path, Path]:
    if len(paths) == 1 and paths[0].is_dir():
        paths = find_distributions(paths[0])
    for path in paths:
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
    kinds = {parse_distribution_name(p.name).kind: p for p in paths}
    if len(paths) != 2 or set(kinds) != {"wheel", "sdist"}:
        raise UsageError("rebuild takes one wheel and one sdist (or a DIR holding exactly those)")
    return kinds["wheel"], kinds["sdist"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="WHEEL SDIST | DIR")
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run the sdist's build backend unconfined, as you, with network (DANGEROUS: "
        "only for an sdist you already trust, where no sandbox can be made)",
    )


def run(args: argparse.Namespace) -> int:
    wheel, sdist = _inputs(args.paths)
    if args.no_sandbox:
        import getpass

        print(UNCONFINED_WARNING.format(user=getpass.getuser()), file=sys.stderr)
    result = rebuild(wheel, sdist, sandboxed=not args.no_sandbox)
    print(f"toolchain: {result.toolchain}")
    if not result.identical:
        raise CheckFailed(
            f"{result.wheel}: rebuilt from {sdist.name}, differs: {result.difference}"
        )
    print(f"identical: {result.wheel} rebuilt byte for byte from {sdist.name}")
    return 0
