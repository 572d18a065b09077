"""Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from tools/kube/.

The output lands in a cache directory keyed by everything that determines the bytes: both modules'
go.mod and go.sum (hence the Kubernetes and etcd versions and every dependency's hash), the Go
version and platform, and the build flags. Each entry carries a manifest with every binary's sha256;
a warm run re-hashes the binaries against it (seconds) and fails closed when one was changed after
it was built. Entries are built in a temporary directory and renamed into place, so an interrupted
build never leaves a half-filled entry behind. Go's own caches (GOMODCACHE, GOCACHE) stay where the
user has them, which is what makes a rebuild after a flag change cheap.

Running the plane needs no Go (`find_built`): the Kubernetes and etcd versions come from the
committed go.mod files, and an entry counts only if the key its manifest records is the key of
these go.mod/go.sum files, these flags and the Go version and platform the manifest names; then
every binary is re-hashed as above. So `sudo`, whose PATH has no Go, finds the same build.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dask_kubernetes.common.files import write_atomically
from dask_kubernetes.local.provision.golang import PINNED_ENV, Go, host_platform, version_tuple
from dask_kubernetes.local.provision.gomod import (
    ETCD_MODULE,
    KUBERNETES_MODULE,
    Modules,
    required_version,
)

KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
BINARIES = ("etcd", *KUBERNETES_COMMANDS)
MANIFEST = "manifest.json"
# The packages that carry the version `kubectl version` and /version report (hack/lib/version.sh).
VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
BUILD_FLAGS = ("-trimpath",)
STRIP = "-s -w"
#: How users start a build, as the README writes it, and what a cold one costs.
BUILD_COMMAND = ".venv/bin/python -m dask_kubernetes.local.provision build"
BUILD_HINT = f"`{BUILD_COMMAND}` (about 40 minutes cold on 2 cores)"
_KEYED_ENV = ("CGO_ENABLED", "GOFLAGS")
_BUILD_DATE = re.compile(r"\.buildDate=(\S+)")


class BuildError(Exception):
    """The build failed, or a cached binary no longer has the sha256 recorded when it was built."""


@dataclass(frozen=True)
class Pins:
    kubernetes: str
    etcd: str
    build_date: str


@dataclass(frozen=True)
class Built:
    directory: Path
    manifest: dict[str, Any] = field(compare=False)
    warm: bool = False

    def path(self, binary: str) -> Path:
        return self.directory / "bin" / binary

    def sha256(self, binary: str) -> str:
        return str(self.manifest["binaries"][binary]["sha256"])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _go(go: Go, cwd: Path, *args: str, timeout: float = 7200) -> str:
    command = go.command(*args)
    nice = shutil.which("nice")
    if nice and args and args[0] == "build":
        # Builds share the machine: be the first to yield the CPU.
        command = [nice, "-n", "19", *command]
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=go.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"go {args[0]} in {cwd} failed: {exc}") from exc
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        raise BuildError(f"go {' '.join(args[:2])} in {cwd.name} failed: {lines[-1]}")
    return done.stdout


def run_go(go: Go, cwd: Path, *args: str, timeout: float = 7200) -> str:
    """`go ARGS` in `cwd` with the pinned environment (builds niced); `BuildError` on failure."""
    return _go(go, cwd, *args, timeout=timeout)


def module_info(go: Go, cwd: Path, module: str, version: str) -> dict[str, Any]:
    """`go mod download -json` of one pinned module (downloads it into GOMODCACHE if needed)."""
    info: dict[str, Any] = json.loads(
        _go(go, cwd, "mod", "download", "-json", f"{module}@{version}")
    )
    if info.get("Error"):
        raise BuildError(f"{module}@{version}: {info['Error']}")
    return info


def pins(go: Go, modules: Modules) -> Pins:
    kubernetes, etcd = committed_versions(modules)
    info = module_info(go, modules.kubernetes, KUBERNETES_MODULE, kubernetes)
    # The tag's time from the module proxy, not the wall clock: the same inputs give the same bytes.
    stamp = json.loads(Path(info["Info"]).read_text())["Time"]
    return Pins(kubernetes, etcd, stamp)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise BuildError(f"cannot read {path}: {exc.strerror}") from exc


def kubernetes_ldflags(pins: Pins) -> str:
    major, minor = pins.kubernetes.removeprefix("v").split(".")[:2]
    values = {
        "gitVersion": pins.kubernetes,
        "gitMajor": major,
        "gitMinor": minor,
        "buildDate": pins.build_date,
        # Built from the module proxy's archive of the tag, not from a git checkout.
        "gitTreeState": "archive",
    }
    flags = [f"-X {pkg}.{key}={value}" for pkg in VERSION_PACKAGES for key, value in values.items()]
    return " ".join([STRIP, *flags])


def cache_key(go: Go, modules: Modules, pins: Pins) -> str:
    return _key(go.version, go.platform, go.env, kubernetes_ldflags(pins), modules)


def _key(
    go_version: str, platform: str, env: dict[str, str], ldflags: str, modules: Modules
) -> str:
    inputs = {
        "go": go_version,
        "platform": platform,
        "env": {name: env[name] for name in _KEYED_ENV},
        "flags": [*BUILD_FLAGS, ldflags, STRIP],
        "files": {
            f"{module.name}/{name}": _read(module / name)
            for module in modules.all()
            for name in ("go.mod", "go.sum")
        },
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _entry_prefix(kubernetes: str, etcd: str) -> str:
    return f"kubernetes-{kubernetes}_etcd-v{etcd.lstrip('v')}_"


def entry_directory(cache_root: Path, go: Go, modules: Modules, pins: Pins) -> Path:
    key = cache_key(go, modules, pins)
    return cache_root / f"{_entry_prefix(pins.kubernetes, pins.etcd)}{go.version}_{key[:16]}"


def committed_versions(modules: Modules) -> tuple[str, str]:
    """The Kubernetes and etcd versions the committed go.mod files pin (no Go needed)."""
    return (
        required_version(_read(modules.kubernetes / "go.mod"), KUBERNETES_MODULE),
        required_version(_read(modules.etcd / "go.mod"), ETCD_MODULE),
    )


def _built_from_these_inputs(directory: Path, modules: Modules, versions: tuple[str, str]) -> bool:
    """Whether `directory`'s manifest says it was built from `modules` as they are now, with
    the current flags, for this machine: its recorded key recomputed from those inputs."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        kubernetes, etcd = manifest["kubernetes"], manifest["etcd"]
        go_version, platform = manifest["go"], manifest["platform"]
        ldflags, key = manifest["flags"]["kubernetes_ldflags"], manifest["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    date = _BUILD_DATE.search(str(ldflags))
    if (kubernetes, etcd) != versions or platform != host_platform() or date is None:
        return False
    if ldflags != kubernetes_ldflags(Pins(kubernetes, etcd, date[1])):
        return False
    expected = _key(str(go_version), platform, PINNED_ENV, ldflags, modules)
    return bool(key == expected and directory.name.endswith(f"_{expected[:16]}"))


def find_built(modules: Modules, cache_roots: list[Path]) -> Built | None:
    """The build of the committed pins in the first of `cache_roots` that has one, verified
    (`BuildError` if a binary changed since); None when none has. Runs no Go: PATH plays no part.

    Several Go versions may have built these inputs; the newest Go's build is used.
    """
    versions = committed_versions(modules)
    prefix = _entry_prefix(*versions)
    for root in cache_roots:
        try:
            candidates = [entry for entry in root.glob(f"{prefix}*") if entry.is_dir()]
        except OSError:
            continue
        matching = [e for e in candidates if _built_from_these_inputs(e, modules, versions)]
        if matching:
            newest = max(matching, key=lambda entry: version_tuple(entry.name[len(prefix) :]))
            return Built(newest, verify(newest), warm=True)
    return None


def require_go_modules(modules: list[Path]) -> None:
    """Each pinned module directory must hold its committed go.mod and go.sum."""
    for module in modules:
        if not (module / "go.mod").is_file() or not (module / "go.sum").is_file():
            raise BuildError(f"{module} needs go.mod and go.sum")


def binary_records(binaries: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """A manifest's `binaries`: each name's sha256 and size, as built."""
    return {
        name: {"sha256": sha256_file(path), "size": path.stat().st_size}
        for name, path in binaries.items()
    }


def verify_recorded(
    directory: Path, binaries: dict[str, Path], build_command: str
) -> dict[str, Any]:
    """`directory`'s manifest, after proving each binary still has the sha256 recorded for its
    name when it was built (one line naming the file and the rebuild command otherwise)."""
    try:
        manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BuildError(f"{directory} has no readable {MANIFEST}: {exc}") from exc
    recorded = manifest.get("binaries")
    if not isinstance(recorded, dict) or set(recorded) != set(binaries):
        raise BuildError(f"{directory / MANIFEST} does not list exactly {', '.join(binaries)}")
    for name, path in binaries.items():
        if not path.is_file():
            raise BuildError(f"{path} is missing; rebuild with `{build_command} --rebuild`")
        actual = sha256_file(path)
        entry = recorded[name]
        expected = entry.get("sha256") if isinstance(entry, dict) else None
        if actual != expected:
            raise BuildError(
                f"{path} has sha256 {actual}, not the {expected} recorded when it was built; "
                f"rebuild with `{build_command} --rebuild`"
            )
    return manifest


def _plane_binaries(directory: Path) -> dict[str, Path]:
    return {name: directory / "bin" / name for name in BINARIES}


def verify(directory: Path) -> dict[str, Any]:
    """The entry's manifest, after proving every binary still has its recorded sha256."""
    return verify_recorded(directory, _plane_binaries(directory), BUILD_COMMAND)


def _compile(go: Go, modules: Modules, pins: Pins, out: Path, jobs: int) -> dict[str, float]:
    seconds: dict[str, float] = {}
    started = time.monotonic()
    _go(
        go,
        modules.etcd,
        "build",
        "-p",
        str(jobs),
        *BUILD_FLAGS,
        "-ldflags",
        STRIP,
        "-o",
        str(out / "etcd"),
        ETCD_MODULE,
    )
    seconds["etcd"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    packages = [f"{KUBERNETES_MODULE}/cmd/{name}" for name in KUBERNETES_COMMANDS]
    _go(
        go,
        modules.kubernetes,
        "build",
        "-p",
        str(jobs),
        *BUILD_FLAGS,
        "-ldflags",
        kubernetes_ldflags(pins),
        "-o",
        f"{out}/",
        *packages,
    )
    seconds["kubernetes"] = round(time.monotonic() - started, 1)
    return seconds


def record(
    go: Go, modules: Modules, pinned: Pins, directory: Path, seconds: dict[str, float]
) -> dict[str, Any]:
    """Write `directory`'s manifest: the inputs, the key they give and each binary's sha256."""
    manifest = {
        "kubernetes": pinned.kubernetes,
        "etcd": pinned.etcd,
        "go": go.version,
        "platform": go.platform,
        "key": cache_key(go, modules, pinned),
        "flags": {"build": list(BUILD_FLAGS), "kubernetes_ldflags": kubernetes_ldflags(pinned)},
        "build_seconds": seconds,
        "binaries": binary_records(_plane_binaries(directory)),
    }
    write_atomically(directory / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def build(
    go: Go, modules: Modules, cache_root: Path, *, rebuild: bool = False, jobs: int = 2
) -> Built:
    """Return the cached build for these inputs, building it first when there is none."""
    require_go_modules(list(modules.all()))
    pinned = pins(go, modules)
    directory = entry_directory(cache_root, go, modules, pinned)
    if directory.exists() and not rebuild:
        return Built(directory, verify(directory), warm=True)
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache_root, prefix=".building-"))
    try:
        (staging / "bin").mkdir()
        seconds = _compile(go, modules, pinned, staging / "bin", jobs)
        manifest = record(go, modules, pinned, staging, seconds)
        if directory.exists():
            shutil.rmtree(directory)
        staging.replace(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Built(directory, manifest, warm=False)
