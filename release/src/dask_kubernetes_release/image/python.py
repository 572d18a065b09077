"""The operator and Dask images: Debian's Python, then the release's wheel and its closure.

Why these layers: layer 1 is the cached Debian tree (rootfs.py), shared by both images and
unchanged by our commits; layer 2 is what release/docker/Dockerfile's own COPY and RUN steps
add on top (chroot.py), so the wheel goes in by SHA256SUMS through install-wheel.sh and the
closure by `pip install --require-hashes`, exactly as in release.yml's image job. The two
images hold the same files (requirements.txt pins dask and distributed as well as kopf and
kr8s, and dask-gateway's server and client: the chart's gateway runs from the operator's image,
its scheduler Pods' preload from the Dask image). The operator's config is the Dockerfile's
(USER 1000:1000, ENTRYPOINT python -m dask_kubernetes.operator). The Dask image has no
ENTRYPOINT, so the operator's pods (`args: [dask-scheduler, ...]`, `[dask-worker, ...]`) and job
runners run their arguments as the command, as with ghcr.io/dask/dask; and since distributed
now ships only the `dask` command, a third small layer adds `dask-scheduler` and `dask-worker`
(as the process node's shims do).

What differs from the Dockerfile's base (python:3.12-slim): the interpreter is Debian's
python3 (trixie: 3.13; bookworm: 3.11) in /usr/bin, `python` comes from python-is-python3, pip
is Debian's, installs land in /usr/local/lib/python3.X/dist-packages, and the build sets
PIP_BREAK_SYSTEM_PACKAGES=1 and SOURCE_DATE_EPOCH (see chroot.py). On trixie the lock's markers
select the same packages as on 3.12 (the `< 3.12` backports drop out on both).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from dask_kubernetes_release.core.digests import sha256_file
from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.files import write_atomically
from dask_kubernetes_release.core.paths import repository_root
from dask_kubernetes_release.core.requirements import read_requirements_file
from dask_kubernetes_release.image.assemble import Built, assemble, normalize_tree
from dask_kubernetes_release.image.chroot import PATH, run_steps
from dask_kubernetes_release.image.dockerfile import Recipe, read_recipe
from dask_kubernetes_release.image.layer import Layer, verified, write_layer
from dask_kubernetes_release.image.oci import RuntimeConfig, parse_reference, reset
from dask_kubernetes_release.image.rootfs import (
    DEFAULT_MIRROR,
    DEFAULT_SUITE,
    Rootfs,
    RootfsSpec,
    ensure_rootfs,
)
from dask_kubernetes_release.image.sbom import Component, installed_distributions, site_packages

RECIPE = 2  # bump when the steps below change what layer 2 holds
DOCKER = Path("release") / "docker"
OPERATOR_REPOSITORY = "ghcr.io/dask/dask-kubernetes-operator"  # the chart's image.repository
DASK_REPOSITORY = "localhost/dask-kubernetes/dask"
# The commands the operator's pod specs run (child_manifests, resource_manifests).
DASK_COMMANDS = {"dask-scheduler": "scheduler", "dask-worker": "worker"}
BUILD_ENV = {"PIP_BREAK_SYSTEM_PACKAGES": "1", "HOME": "/root"}
IMAGE_ENV = {"PATH": PATH, "LANG": "C.UTF-8"}


def _dist(args: argparse.Namespace) -> tuple[Path, Path]:
    """(dist directory, its one wheel); the wheel's hash is install-wheel.sh's to check."""
    dist: Path | None = args.dist
    if dist is None:
        raise UsageError("the operator and dask images need --dist DIR (wheel + SHA256SUMS)")
    if not dist.is_dir():
        raise UsageError(f"--dist {dist}: not a directory")
    wheels = sorted(dist.glob("*.whl"))
    if len(wheels) != 1:
        raise UsageError(f"--dist {dist}: expected exactly one wheel, found {len(wheels)}")
    if not (dist / "SHA256SUMS").is_file():
        raise UsageError(f"--dist {dist}: no SHA256SUMS")
    return dist, wheels[0]


def _version(wheel: Path) -> str:
    parts = wheel.name.split("-")
    if len(parts) < 5:
        raise UsageError(f"{wheel.name}: not a wheel file name")
    return parts[1]


def _stage(recipe: Recipe, root: Path, dist: Path, staged: Path) -> list[str]:
    """The recipe's COPY sources laid out at their destinations under `staged` (the build
    context is the repository root, with `dist/` being --dist). Returns the history lines."""
    history = []
    for copy in recipe.copies:
        destination = staged / copy.destination.lstrip("/")
        if not copy.destination.endswith("/"):
            raise UsageError(f"COPY destination {copy.destination!r}: only directories")
        destination.mkdir(parents=True, exist_ok=True)
        for source in copy.sources:
            base, pattern = (dist, source[5:]) if source.startswith("dist/") else (root, source)
            matches = sorted(base.glob(pattern))
            if not matches:
                raise UsageError(f"COPY {source}: nothing matches in the build context")
            for match in matches:
                if not match.is_file():
                    raise UsageError(f"COPY {source}: {match} is not a file")
                shutil.copyfile(match, destination / match.name)
                (destination / match.name).chmod(match.stat().st_mode & 0o755 | 0o644)
        history.append(f"COPY {' '.join(copy.sources)} {copy.destination}")
    return history


def _wheel_files(output: str) -> dict[str, str]:
    """normalised name -> wheel file, from pip's `Downloading NAME-...whl` / `Processing` lines."""
    found = {}
    for match in re.finditer(r"(?:Downloading|Processing) (?:\S*/)?(\S+\.whl)", output):
        filename = match.group(1)
        found[filename.split("-")[0].lower().replace("_", "-").replace(".", "-")] = filename
    return found


def _python_components(
    upper: Path, python: str, requirements: str, wheel: Path, wheels: dict[str, str]
) -> list[Component]:
    """Each distribution the step installed, with the hashes the lock allowed for it (for our
    own wheel: the one SHA256SUMS lists, which install-wheel.sh held pip to)."""
    allowed = {
        (str(entry.name), entry.version): tuple(h.removeprefix("sha256:") for h in entry.hashes)
        for entry in read_requirements_file(requirements).pins
    }
    sums = (wheel.parent / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    listed = tuple(line.split()[0] for line in sums if line.split()[1:] == [wheel.name])
    allowed[("dask-kubernetes", _version(wheel))] = listed
    return installed_distributions(site_packages(upper, python), allowed, wheels=wheels)


def _layer_key(rootfs: Rootfs, inputs: dict[str, str], epoch: int) -> str:
    doc = {"recipe": RECIPE, "rootfs": rootfs.layer.digest, "epoch": epoch, **inputs}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


def _install_layer(
    rootfs: Rootfs, recipe: Recipe, dist: Path, cache: Path, epoch: int, *, reuse: bool
) -> tuple[Layer, list[Component], list[str]]:
    """Layer 2 (cached by its inputs): the recipe's steps over the Debian tree."""
    root = repository_root()
    docker = root / DOCKER
    inputs = {
        name: sha256_file(path)
        for name, path in {
            "Dockerfile": docker / "Dockerfile",
            "requirements": docker / "requirements.txt",
            "install-wheel": docker / "install-wheel.sh",
            "SHA256SUMS": dist / "SHA256SUMS",
            **{f"wheel:{w.name}": w for w in sorted(dist.glob("*.whl"))},
        }.items()
    }
    key = _layer_key(rootfs, inputs, epoch)
    final = cache / "install" / key
    if reuse and (final / "layer.json").exists():
        record = json.loads((final / "layer.json").read_text(encoding="utf-8"))
        layer = Layer(**{**record["layer"], "path": final / record["layer"]["path"]})
        components = [
            Component(
                **{
                    **c,
                    "allowed": tuple(c["allowed"]),
                    "properties": tuple(tuple(p) for p in c["properties"]),
                }
            )
            for c in record["components"]
        ]
        return verified(layer), components, record["history"]
    final.parent.mkdir(parents=True, exist_ok=True)
    failure_log = final.parent / "last-failure.log"
    with (final.parent / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build per key at a time; released on close
        return _run_install(rootfs, recipe, dist, root, docker, final, epoch, failure_log, inputs)


def _run_install(
    rootfs: Rootfs,
    recipe: Recipe,
    dist: Path,
    root: Path,
    docker: Path,
    final: Path,
    epoch: int,
    failure_log: Path,
    inputs: dict[str, str],
) -> tuple[Layer, list[Component], list[str]]:
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".build-") as work:
        scratch = Path(work)
        staged = scratch / "staged"
        history = _stage(recipe, root, dist, staged)
        wheels: dict[str, str] = {}
        env = {**IMAGE_ENV, **recipe.env, **BUILD_ENV, "SOURCE_DATE_EPOCH": str(epoch)}
        upper = scratch / "upper"
        for command in recipe.runs:
            output = run_steps(
                rootfs.tree, upper, scratch / "mnt", staged, command, env, failure_log
            )
            wheels.update(_wheel_files(output))
            staged = scratch / "nothing"
            staged.mkdir(exist_ok=True)
            history.append(f"RUN {command}")
        requirements = (docker / "requirements.txt").read_text(encoding="utf-8")
        (wheel,) = sorted(dist.glob("*.whl"))
        components = _python_components(upper, rootfs.python, requirements, wheel, wheels)
        layer = write_layer(upper, scratch / "blobs", epoch)
        if final.exists():
            shutil.rmtree(final)
        final.mkdir()
        layer.path.replace(final / layer.path.name)
        layer = Layer(**{**asdict(layer), "path": final / layer.path.name})
        record = {
            "layer": {**asdict(layer), "path": layer.path.name},
            "components": [asdict(c) for c in components],
            "history": history,
            "inputs": inputs,
        }
        write_atomically(final / "layer.json", json.dumps(record, indent=1, sort_keys=True) + "\n")
    return layer, components, history


def _commands_layer(blobs: Path, epoch: int, scratch: Path) -> tuple[Layer, list[Component]]:
    """The Dask image's third layer: the two commands the operator's pod specs name."""
    tree = scratch / "commands"
    bin_dir = tree / "usr" / "local" / "bin"
    bin_dir.mkdir(parents=True)
    components = []
    for name, subcommand in DASK_COMMANDS.items():
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec python -m dask {subcommand} "$@"\n', encoding="utf-8")
        script.chmod(0o755)
        components.append(Component(kind="file", name=name, version="", sha256=sha256_file(script)))
    normalize_tree(tree)
    return write_layer(tree, blobs, epoch, owner=(0, 0)), components


def _runtime(kind: str, recipe: Recipe) -> RuntimeConfig:
    env = {**IMAGE_ENV, **recipe.env}
    if kind == "operator":
        return RuntimeConfig(
            entrypoint=recipe.entrypoint, cmd=recipe.cmd, user=recipe.user, env=env
        )
    return RuntimeConfig(cmd=["python"], user=recipe.user, env=env)


def build_python_image(
    kind: str, args: argparse.Namespace, epoch: int, out: Path, cache: Path
) -> Built:
    """Build the operator or Dask image into `out` (cached layers reused unless asked not to)."""
    dist, wheel = _dist(args)
    spec = RootfsSpec(suite=args.suite or DEFAULT_SUITE, mirror=args.mirror or DEFAULT_MIRROR)
    recipe = read_recipe(repository_root() / DOCKER / "Dockerfile")
    version = _version(wheel)
    repository = OPERATOR_REPOSITORY if kind == "operator" else DASK_REPOSITORY
    reference = parse_reference(args.name or f"{repository}:{version.replace('+', '_')}")
    rootfs = ensure_rootfs(spec, cache, refresh=args.refresh)
    layer, python_components, history = _install_layer(
        rootfs, recipe, dist, cache, epoch, reuse=not (args.refresh or args.no_cache)
    )
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".layout-") as scratch:
        layout = args.layout or Path(scratch) / "layout"
        reset(layout)
        blobs = layout / "blobs" / "sha256"
        placed = []
        for source in (rootfs.layer, layer):
            target = blobs / source.path.name
            try:
                target.hardlink_to(source.path)
            except OSError:
                shutil.copyfile(source.path, target)
            placed.append(Layer(**{**asdict(source), "path": target}))
        components = [*rootfs.packages, *python_components]
        if kind == "dask":
            commands, scripts = _commands_layer(blobs, epoch, Path(scratch))
            placed.append(commands)
            components.extend(scripts)
            history.append("ADD usr/local/bin/dask-scheduler, dask-worker (python -m dask ...)")
        release = rootfs.release
        steps = [
            f"mmdebstrap {spec.suite} ({release.get('Date', '?')}, InRelease sha256 "
            f"{release.get('InRelease-sha256', '?')}): {', '.join(spec.packages)}",
            *history,
        ]
        return assemble(
            layers=placed,
            runtime=_runtime(kind, recipe),
            reference=reference,
            epoch=epoch,
            layout=layout,
            archive=out,
            components=components,
            history=steps,
            distro=rootfs.distro,
        )
