"""A build environment holding exactly the hash-locked build backend and its dependencies.

`python -m build` would install `build-system.requires` unpinned. Instead the requirements and
their transitive closure (read from each installed package's own metadata, round by round) are
installed from `release/requirements.lock` with `pip --require-hashes`; a dependency the lock
lacks stops the build. The environment is cached under `.cache/build-env/<lock digest>/`.

Each install round runs with `pip install --report`, and the artefacts it names (file and
sha256) are kept in the environment (`installed-artefacts.json`), so a build that reuses the
cache can still say exactly what it was built with.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import venv
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from dask_kubernetes_release.build.toolchain import Artefact
from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.requirements import LockedPackage, read_lock

_STAMP = ".build-env-complete"
_INSTALLED = "installed-artefacts.json"
_LAYOUT = b"layout 2: installed-artefacts.json"  # environments cached before it lack the record
_LIST_INSTALLED = """
import importlib.metadata as m, json
print(json.dumps({d.metadata["Name"]: [d.version, d.requires or []] for d in m.distributions()}))
"""


def env_python(env: Path) -> Path:
    return env / "bin" / "python"


def ensure_build_env(requires: list[str], lock: Path, cache: Path) -> Path:
    """The cached environment for `requires` from `lock`, created (atomically) if needed."""
    key = hashlib.sha256()
    key.update(Path(lock).read_bytes())
    key.update("\n".join(sorted(requires)).encode())
    key.update(sys.version.encode())
    key.update(_LAYOUT)
    env = cache / key.hexdigest()
    if (env / _STAMP).exists():
        _world_readable(env)
        return env
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache, prefix=".staging-"))
    try:
        _world_readable(staging)
        _populate(staging, requires, read_lock(lock), lock)
        (staging / _STAMP).write_text("\n".join(sorted(requires)) + "\n")
        try:
            staging.replace(env)
        except OSError:
            if not (env / _STAMP).exists():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return env


def _world_readable(env: Path) -> None:
    """mkdtemp made it private; `release rebuild`'s sandboxed user (nobody) must read it."""
    if env.stat().st_mode & 0o755 != 0o755:
        env.chmod(0o755)


def _populate(
    env: Path, requires: list[str], locked: dict[NormalizedName, LockedPackage], lock: Path
) -> None:
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env)
    pending = [Requirement(text) for text in requires]
    installed: dict[NormalizedName, str] = {}
    artefacts: list[Artefact] = []
    while pending:
        wanted = {canonicalize_name(r.name) for r in pending} - set(installed)
        if wanted:
            artefacts += _pip_install(env, [_pick(name, locked, lock) for name in sorted(wanted)])
        metadata = _installed(env)
        for requirement in pending:
            name = canonicalize_name(requirement.name)
            version = metadata[name][0] if name in metadata else None
            if version is None or not requirement.specifier.contains(version, prereleases=True):
                raise UsageError(f"build environment: {requirement} not satisfied by the lock")
        installed = {name: info[0] for name, info in metadata.items()}
        pending = [r for name in sorted(wanted) for r in _needs(metadata[name][1])]
    _pip(env, ["check"])
    record = [a.to_json() for a in sorted(artefacts, key=lambda a: a.name)]
    (env / _INSTALLED).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def installed_artefacts(env: Path) -> list[Artefact]:
    """The artefacts pip installed into `env` (name, version, file, sha256), by name."""
    try:
        return [Artefact.from_json(item) for item in json.loads((env / _INSTALLED).read_text())]
    except (OSError, ValueError) as exc:
        raise UsageError(f"build environment {env}: no usable {_INSTALLED} ({exc})") from None


def unsatisfied(env: Path, requirements: Iterable[str]) -> list[str]:
    """The requirements (e.g. a backend's `get_requires_for_build_*`) the environment lacks."""
    installed = _installed(env)
    missing = []
    for text in requirements:
        requirement = Requirement(text)
        found = installed.get(canonicalize_name(requirement.name))
        if found is None or not requirement.specifier.contains(found[0], prereleases=True):
            missing.append(text)
    return missing


def _needs(requires: Iterable[str]) -> list[Requirement]:
    """A package's runtime requirements on this interpreter (no extras)."""
    needed = []
    for text in requires:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            needed.append(requirement)
    return needed


def _pick(
    name: NormalizedName, locked: dict[NormalizedName, LockedPackage], lock: Path
) -> LockedPackage:
    if name not in locked:
        raise UsageError(f"build environment needs {name}, which {lock} does not pin")
    return locked[name]


def _installed(env: Path) -> dict[NormalizedName, tuple[str, list[str]]]:
    out = subprocess.run(
        [str(env_python(env)), "-I", "-c", _LIST_INSTALLED],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {canonicalize_name(k): (v[0], v[1]) for k, v in json.loads(out).items()}


def _pip_install(env: Path, packages: list[LockedPackage]) -> list[Artefact]:
    """Install `packages` by hash; returns what pip reports it installed."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", dir=env, delete=False) as handle:
        handle.write("".join(p.requirement_line() + "\n" for p in packages))
    report = Path(handle.name).with_suffix(".report.json")
    try:
        _pip(
            env,
            [
                "install",
                "--no-deps",
                "--require-hashes",
                "--only-binary",
                ":all:",
                "-r",
                handle.name,
                "--report",
                str(report),
            ],
        )
        try:
            return _reported(report, {p.name: p for p in packages})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"build environment: unreadable pip report ({exc!r})") from None
    finally:
        Path(handle.name).unlink()
        report.unlink(missing_ok=True)


def _reported(report: Path, asked: dict[NormalizedName, LockedPackage]) -> list[Artefact]:
    """The report's artefacts, each checked to be the one asked for and allowed by the lock."""
    found = []
    for item in json.loads(report.read_text(encoding="utf-8")).get("install", []):
        name = canonicalize_name(item["metadata"]["name"])
        download = item.get("download_info", {})
        sha256 = download.get("archive_info", {}).get("hashes", {}).get("sha256")
        package = asked.get(name)
        if package is None or f"sha256:{sha256}" not in package.hashes:
            raise UsageError(f"build environment: pip installed {name} {sha256} against the lock")
        found.append(
            Artefact(
                name=name,
                version=item["metadata"]["version"],
                sha256=sha256,
                filename=download.get("url", "").rsplit("/", 1)[-1],
                locked_sha256=tuple(h.removeprefix("sha256:") for h in package.hashes),
            )
        )
    missing = sorted(set(asked) - {a.name for a in found})
    if missing:
        raise UsageError(f"build environment: pip's report lacks {', '.join(missing)}")
    return found


def _pip(env: Path, args: list[str]) -> None:
    """Our own pip, aimed at the environment: it holds nothing but the locked packages."""
    pip = [sys.executable, "-m", "pip", "--python", str(env_python(env))]
    command = [*pip, "--disable-pip-version-check", "-q", *args]
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["?"]
        raise UsageError(f"build environment: pip {args[0]} failed: {last[0]}")
