"""Debian's root filesystem with Python, built by mmdebstrap and cached by its inputs.

Why mmdebstrap and not debootstrap: it resolves packages with apt (so `--include` pulls exactly
the dependency closure and nothing by Priority), the `essential` variant leaves out apt and
everything else an image does not run, it honours SOURCE_DATE_EPOCH for a reproducible tree, it
accepts dpkg path filters (no manuals or docs, but every copyright file kept) and hooks that run
while apt's package index is still there: we keep the index to record each installed .deb's
sha256 for the SBOM. It is one apt-get install away on Debian hosts.

The tree is cached under the cache directory keyed by every input that shapes it (suite,
mirror, packages, filters, epoch, mmdebstrap's version, this module's recipe version). What the
key cannot hold is the archive's state on the day of the build: a suite moves with point
releases and security updates. The cache records the InRelease it was built from (Date and
sha256) and the SBOM carries it; a rebuild on another day (`--refresh`) is the same image only
if the archive has not moved, unless the mirror is a snapshot.debian.org URL, which pins it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from shlex import quote

from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.files import write_atomically
from dask_kubernetes_release.image.layer import Layer, verified, write_layer
from dask_kubernetes_release.image.sbom import Component, installed_distributions, site_packages

RECIPE = 2  # bump when the steps below change what the tree holds
DEFAULT_SUITE = "trixie"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# python-is-python3: the Dockerfile's steps and ENTRYPOINT call `python`, as python:3.12-slim has.
# pip from python3-pip-whl (Debian's pip wheel), installed into /usr/local like the python
# image's own pip: Debian's python3-pip would bring python3-packaging, which the lock pins at
# another version and pip may not uninstall (dpkg owns it), failing the shared install step.
PACKAGES = ("python3", "python3-pip-whl", "python-is-python3", "ca-certificates")
PIP_HOOK = (
    'wheel=$(echo "$1"/usr/share/python-wheels/pip-*.whl) && '
    'chroot "$1" env SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" python3 "${wheel#"$1"}/pip" install'
    " --no-index --no-deps --break-system-packages --disable-pip-version-check"
    ' "${wheel#"$1"}"'
)
DPKG_FILTERS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
)
# Fixed, not the commit's time: the Debian layer must not change when only our code does.
ROOTFS_EPOCH = 1735689600  # 2025-01-01T00:00:00Z
# Written by the runtime at container start; the build host's copies must not ship.
RUNTIME_FILES = ("etc/resolv.conf", "etc/hostname")
LISTS = "var/lib/apt/lists"
_SUITE = re.compile(r"[a-z][a-z0-9-]*")


@dataclass(frozen=True)
class RootfsSpec:
    suite: str = DEFAULT_SUITE
    mirror: str = DEFAULT_MIRROR
    packages: tuple[str, ...] = PACKAGES
    filters: tuple[str, ...] = DPKG_FILTERS
    epoch: int = ROOTFS_EPOCH

    def check(self) -> None:
        if not _SUITE.fullmatch(self.suite):
            raise UsageError(f"not a Debian suite name: {self.suite!r}")
        if not re.fullmatch(r"https?://[^\s'\"]+", self.mirror):
            raise UsageError(f"not a mirror URL (http or https): {self.mirror!r}")

    def key(self, tool: str) -> str:
        doc = {"recipe": RECIPE, "tool": tool, **asdict(self)}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Rootfs:
    """A cached tree: its directory, its layer blob, the packages in it, the archive state."""

    tree: Path
    layer: Layer
    packages: tuple[Component, ...]
    release: dict[str, str]
    python: str  # "3.13"

    @property
    def distro(self) -> str:
        return f"debian-{self.release.get('Suite', '')}"


def mmdebstrap_version() -> str:
    try:
        done = subprocess.run(
            ["mmdebstrap", "--version"], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise UsageError(
            "the operator and dask images need mmdebstrap (apt-get install mmdebstrap)"
        ) from None
    return done.stdout.strip()


def _stanzas(text: str) -> Iterator[dict[str, str]]:
    """deb822 paragraphs (Packages, status): only single-line fields are kept."""
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line and not line[0].isspace() and ":" in line:
                name, _, value = line.partition(":")
                fields[name] = value.strip()
        if fields:
            yield fields


def installed_packages(tree: Path, index: Path) -> list[Component]:
    """Every package dpkg installed in `tree`, with the .deb's sha256 from apt's index."""
    status = (tree / "var" / "lib" / "dpkg" / "status").read_text(encoding="utf-8")
    installed = {
        (s["Package"], s["Version"]): s
        for s in _stanzas(status)
        if s.get("Status", "").endswith(" installed")
    }
    digests: dict[tuple[str, str], tuple[str, str]] = {}
    for packages in sorted(index.glob("*_Packages")):
        for s in _stanzas(packages.read_text(encoding="utf-8")):
            key = (s.get("Package", ""), s.get("Version", ""))
            if key in installed:
                digests[key] = (s.get("SHA256", ""), s.get("Filename", ""))
    missing = sorted(f"{n}={v}" for n, v in installed if (n, v) not in digests)
    if missing:
        raise CheckFailed(f"apt's index does not list installed {', '.join(missing[:3])}")
    return [
        Component(
            kind="deb",
            name=name,
            version=version,
            sha256=digests[(name, version)][0],
            source=digests[(name, version)][1],
            properties=(("debian:source", fields.get("Source", name).split(" ")[0]),),
        )
        for (name, version), fields in sorted(installed.items())
    ]


def _release_fields(index: Path) -> dict[str, str]:
    found = sorted(index.glob("*_InRelease"))
    if not found:
        return {}
    inrelease = found[0]
    data = inrelease.read_bytes()
    head = next(_stanzas(data.decode("utf-8", "replace").split("\n\n", 1)[-1]), {})
    return {
        "Suite": head.get("Suite", ""),
        "Codename": head.get("Codename", ""),
        "Version": head.get("Version", ""),
        "Date": head.get("Date", ""),
        "InRelease-sha256": hashlib.sha256(data).hexdigest(),
    }


def _python_version(tree: Path) -> str:
    found = sorted(
        (tuple(map(int, match.groups())), match.group(0).removeprefix("python"))
        for p in (tree / "usr" / "bin").glob("python3.*")
        if (match := re.fullmatch(r"python(3)\.(\d+)", p.name))
    )
    if not found:
        raise CheckFailed("the Debian tree has no python3.X")
    return found[-1][1]


def _mmdebstrap(spec: RootfsSpec, tree: Path, index: Path) -> None:
    argv = [
        "mmdebstrap",
        "--mode=root",
        "--variant=essential",
        "--format=directory",
        f"--include={','.join(spec.packages)}",
        *(f"--dpkgopt={item}" for item in spec.filters),
        f"--customize-hook={PIP_HOOK}",
        f'--customize-hook=cp "$1"/{LISTS}/*_Packages "$1"/{LISTS}/*_InRelease '
        f"{quote(str(index))}/",
        spec.suite,
        str(tree),
        spec.mirror,
    ]
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(spec.epoch), "LC_ALL": "C.UTF-8"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise CheckFailed(f"mmdebstrap {spec.suite} failed (exit {done.returncode}): {last}")


def ensure_rootfs(spec: RootfsSpec, cache: Path, *, refresh: bool = False) -> Rootfs:
    """The cached tree for `spec`, built first when missing (or when `refresh`)."""
    spec.check()
    if os.geteuid() != 0:
        raise UsageError("building the Debian root filesystem needs root (mmdebstrap --mode=root)")
    key = spec.key(mmdebstrap_version())
    base = cache / "rootfs"
    base.mkdir(parents=True, exist_ok=True)
    final = base / key
    with (base / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if refresh and final.exists():
            shutil.rmtree(final)
        if not (final / "rootfs.json").exists():
            _build(spec, final)
        return _load(final)


def _build(spec: RootfsSpec, final: Path) -> None:
    work = final.with_name(f".{final.name}.tmp")
    if work.exists():
        shutil.rmtree(work)
    index = work / "index"
    index.mkdir(parents=True)
    tree = work / "tree"
    try:
        _mmdebstrap(spec, tree, index)
        for name in RUNTIME_FILES:
            path = tree / name
            path.unlink(missing_ok=True)
            path.write_bytes(b"")
            path.chmod(0o644)
        python = _python_version(tree)
        packages = installed_packages(tree, index) + installed_distributions(
            site_packages(tree, python), {}, source="python3-pip-whl"
        )
        release = _release_fields(index)
        layer = write_layer(tree, work / "blobs", spec.epoch)
        record = {
            "spec": asdict(spec),
            "release": release,
            "python": python,
            "layer": {**asdict(layer), "path": layer.path.name},
            "packages": [asdict(p) for p in packages],
        }
        shutil.rmtree(index)
        write_atomically(work / "rootfs.json", json.dumps(record, indent=1, sort_keys=True) + "\n")
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _load(final: Path) -> Rootfs:
    record = json.loads((final / "rootfs.json").read_text(encoding="utf-8"))
    layer_doc = record["layer"]
    layer = Layer(
        path=final / "blobs" / layer_doc["path"],
        digest=layer_doc["digest"],
        diff_id=layer_doc["diff_id"],
        size=layer_doc["size"],
        media_type=layer_doc["media_type"],
    )
    packages = tuple(
        Component(
            **{
                **p,
                "allowed": tuple(p["allowed"]),
                "properties": tuple(map(tuple, p["properties"])),
            }
        )
        for p in record["packages"]
    )
    return Rootfs(
        tree=final / "tree",
        layer=verified(layer),
        packages=packages,
        release=record["release"],
        python=record["python"],
    )
