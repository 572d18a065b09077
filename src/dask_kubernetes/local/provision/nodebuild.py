"""Build the node's binaries from tools/node/ into a content-keyed cache entry, and find it later.

Cached as the control plane is (`build`): the entry's name carries every pinned version, the Go
version and a key over everything that decides the bytes (each component's go.mod and go.sum, the
Go version and platform, the pinned Go environment, each build's flags, and for runc, the only cgo
build, the C compiler's version and libseccomp.a's sha256). Its manifest records each binary's
sha256; a warm build and every lookup re-hash them and refuse a changed one in one line. Entries
are filled in a temporary directory and renamed into place, so an interrupted build leaves none.

The lookup (`find_built_node`, `built_node_binaries`) runs no Go and no C compiler: the versions
come from the committed go.mod files, and an entry counts only when the key its manifest records
is recomputed from those files, today's flags and the toolchain its manifest names.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dask_kubernetes.common.files import write_atomically
from dask_kubernetes.local.provision.build import (
    binary_records,
    module_info,
    require_go_modules,
    run_go,
    verify_recorded,
)
from dask_kubernetes.local.provision.golang import (
    PINNED_ENV,
    Go,
    cache_roots,
    host_platform,
    version_tuple,
)
from dask_kubernetes.local.provision.nodepins import (
    BINARIES,
    COMPONENTS,
    Component,
    NodeModules,
    Stamp,
    c_toolchain,
    check_same_kubernetes,
    committed_versions,
    default_node_modules,
    entry_prefix,
    read,
)

MANIFEST = "manifest.json"
NODE_CACHE = "node"
BUILD_COMMAND = ".venv/bin/python -m dask_kubernetes.local.provision build --node"
BUILD_HINT = f"`{BUILD_COMMAND}` (minutes when the control plane was built here first)"
_KEYED_ENV = ("CGO_ENABLED", "GOFLAGS")


class NodeNotBuilt(Exception):
    """No verified build of the committed node pins in any cache root; says how to make one."""


@dataclass(frozen=True)
class NodeBuilt:
    """A verified cache entry: `bin/` (kubelet ... runc) and `cni/bin/` (the CNI plugins)."""

    directory: Path
    manifest: dict[str, Any] = field(compare=False)
    warm: bool = False

    @property
    def bin_dir(self) -> Path:
        return self.directory / "bin"

    @property
    def cni_bin_dir(self) -> Path:
        """The directory to give containerd as CNI's bin_dir: the plugins and nothing else."""
        return self.directory / "cni" / "bin"

    def path(self, binary: str) -> Path:
        """`kubelet`, `runc`, ... in bin/, or a CNI plugin (`bridge`) in cni/bin/."""
        for relative in BINARIES:
            if relative.rsplit("/", 1)[-1] == binary:
                return self.directory / relative
        raise KeyError(f"{binary} is not a node binary (one of {', '.join(BINARIES)})")

    def sha256(self, relative: str) -> str:
        return str(self.manifest["binaries"][relative]["sha256"])

    @property
    def versions(self) -> dict[str, str]:
        return dict(self.manifest["versions"])


def node_cache_roots() -> list[Path]:
    """Beside the control plane's: ~/.cache/dask-kubernetes/node (and the sudo user's)."""
    return [root.parent / NODE_CACHE for root in cache_roots()]


def _stamps(go: Go, modules: NodeModules, versions: dict[str, str]) -> dict[str, Stamp]:
    stamps = {}
    for component in COMPONENTS:
        version = versions[component.name]
        info = module_info(go, modules.module(component), component.module, version)
        # The tag's time from the proxy, never the wall clock: the same inputs give the same bytes.
        stamp = json.loads(Path(info["Info"]).read_text())["Time"]
        stamps[component.name] = Stamp(version, stamp)
    return stamps


def _flags(stamps: dict[str, Stamp]) -> dict[str, list[Any]]:
    """Every build's flags, per component: the part of the key that says how, not from what."""
    return {
        component.name: [
            [*target.flags(stamps[component.name]), target.cgo, list(target.packages)]
            for target in component.targets
        ]
        for component in COMPONENTS
    }


def _key(
    go_version: str,
    platform: str,
    stamps: dict[str, Stamp],
    c: dict[str, str],
    modules: NodeModules,
) -> str:
    inputs = {
        "go": go_version,
        "platform": platform,
        "env": {name: PINNED_ENV[name] for name in _KEYED_ENV},
        "flags": _flags(stamps),
        "c": c,
        "files": {
            f"{component.name}/{name}": read(modules.module(component) / name)
            for component in COMPONENTS
            for name in ("go.mod", "go.sum")
        },
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def entry_directory(cache_root: Path, go_version: str, versions: dict[str, str], key: str) -> Path:
    return cache_root / f"{entry_prefix(versions)}{go_version}_{key[:16]}"


def _node_binaries(directory: Path) -> dict[str, Path]:
    return {relative: directory / relative for relative in BINARIES}


def verify(directory: Path) -> dict[str, Any]:
    """The entry's manifest, after proving every binary still has its recorded sha256."""
    return verify_recorded(directory, _node_binaries(directory), BUILD_COMMAND)


def _built_from_these_inputs(
    directory: Path, modules: NodeModules, versions: dict[str, str]
) -> bool:
    """Whether the manifest's recorded key is the key of today's files and flags, for this
    machine, with the Go, proxy times and C toolchain the manifest names."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        recorded = manifest["versions"]
        stamps = {
            name: Stamp(str(value["version"]), str(value["build_date"]))
            for name, value in manifest["stamps"].items()
        }
        go_version, platform = str(manifest["go"]), str(manifest["platform"])
        c, key = {str(k): str(v) for k, v in manifest["c"].items()}, manifest["key"]
        if recorded != versions or platform != host_platform():
            return False
        if {name: stamp.version for name, stamp in stamps.items()} != versions:
            return False
        expected = _key(go_version, platform, stamps, c, modules)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return bool(key == expected and directory.name.endswith(f"_{expected[:16]}"))


def find_built_node(modules: NodeModules, roots: list[Path]) -> NodeBuilt | None:
    """The verified build of the committed node pins in the first root that has one (the newest
    Go's, if several); None when none has; `BuildError` if a binary changed. Runs no Go."""
    versions = committed_versions(modules)
    prefix = entry_prefix(versions)
    for root in roots:
        try:
            candidates = [entry for entry in root.glob(f"{prefix}*") if entry.is_dir()]
        except OSError:
            continue
        matching = [e for e in candidates if _built_from_these_inputs(e, modules, versions)]
        if matching:
            newest = max(matching, key=lambda e: version_tuple(e.name[len(prefix) :]))
            return NodeBuilt(newest, verify(newest), warm=True)
    return None


def built_node_binaries() -> NodeBuilt:
    """The node's binaries for the runtime: the verified cached build of this clone's pins.

    Never builds and needs no Go (so it works under `sudo`). `NodeNotBuilt` (saying how to build)
    when there is none, `BuildError` when a binary changed since it was built, and
    `paths.CloneNotFound` outside a clone.
    """
    modules = default_node_modules()
    roots = node_cache_roots()
    built = find_built_node(modules, roots)
    if built is None:
        pinned = ", ".join(
            f"{c.label} {v}" for c, v in zip(COMPONENTS, _ordered(modules), strict=True)
        )
        where = " or ".join(str(root) for root in roots)
        raise NodeNotBuilt(
            f"the node binaries ({pinned}) are not built in {where}: run {BUILD_HINT}"
        )
    return built


def _ordered(modules: NodeModules) -> list[str]:
    versions = committed_versions(modules)
    return [versions[component.name] for component in COMPONENTS]


def _compile(
    go: Go, modules: NodeModules, component: Component, stamp: Stamp, staging: Path, jobs: int
) -> None:
    for target in component.targets:
        out = staging / target.out_dir
        out.mkdir(parents=True, exist_ok=True)
        env = dict(go.env, CGO_ENABLED="1") if target.cgo else go.env
        run_go(
            Go(go.executable, env, go.version, go.platform),
            modules.module(component),
            "build",
            "-p",
            str(jobs),
            *target.flags(stamp),
            "-o",
            f"{out}/",
            *target.packages,
        )


def record(
    directory: Path,
    go: Go,
    stamps: dict[str, Stamp],
    c: dict[str, str],
    key: str,
    seconds: dict[str, float],
) -> dict[str, Any]:
    """Write the manifest: versions, the toolchain, the key, and each binary's sha256."""
    manifest = {
        "versions": {name: stamp.version for name, stamp in stamps.items()},
        "stamps": {name: vars(stamp) for name, stamp in stamps.items()},
        "go": go.version,
        "platform": go.platform,
        "c": c,
        "key": key,
        "flags": _flags(stamps),
        "build_seconds": seconds,
        "binaries": binary_records(_node_binaries(directory)),
    }
    write_atomically(directory / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def build_node(
    go: Go, modules: NodeModules, cache_root: Path, *, rebuild: bool = False, jobs: int = 2
) -> NodeBuilt:
    """The cached node build for these inputs, building it first (one component at a time)."""
    require_go_modules(list(modules.all()))
    check_same_kubernetes(modules)
    versions = committed_versions(modules)
    c = c_toolchain()
    stamps = _stamps(go, modules, versions)
    key = _key(go.version, go.platform, stamps, c, modules)
    directory = entry_directory(cache_root, go.version, versions, key)
    if directory.exists() and not rebuild:
        return NodeBuilt(directory, verify(directory), warm=True)
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache_root, prefix=".building-"))
    try:
        seconds: dict[str, float] = {}
        for component in COMPONENTS:
            started = time.monotonic()
            _compile(go, modules, component, stamps[component.name], staging, jobs)
            seconds[component.name] = round(time.monotonic() - started, 1)
        manifest = record(staging, go, stamps, c, key, seconds)
        if directory.exists():
            shutil.rmtree(directory)
        staging.replace(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return NodeBuilt(directory, manifest, warm=False)
