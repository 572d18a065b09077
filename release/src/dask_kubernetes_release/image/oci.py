"""An OCI image layout (and its tar archive) from layers and a runtime config.

Why written here: there is no registry and no Docker engine on the machines that build and test
the node, and the bytes must be ours to audit. The layout is what the image spec defines
(`oci-layout`, `index.json`, `blobs/sha256/...`); the archive is that layout as one
reproducible tar, which `ctr images import` (containerd 2.x) accepts. The index names the
image twice, as containerd's own export does: `io.containerd.image.name` carries the full
reference (what `ctr import` and the kubelet look up), `org.opencontainers.image.ref.name` only
the tag (what the OCI spec says it holds). Every JSON document is written with sorted keys and
no whitespace, so the manifest digest is a function of the inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dask_kubernetes_release.core.clock import from_timestamp, rfc3339
from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.files import write_atomically
from dask_kubernetes_release.image.layer import Layer

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
IMAGE_NAME = "io.containerd.image.name"
REF_NAME = "org.opencontainers.image.ref.name"
CREATED = "org.opencontainers.image.created"
DEFAULT_REGISTRY = "docker.io"


@dataclass(frozen=True)
class RuntimeConfig:
    """What a runtime takes from the image: the Dockerfile's ENTRYPOINT, CMD, USER, ENV, WORKDIR."""

    entrypoint: Sequence[str] = ()
    cmd: Sequence[str] = ()
    user: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.entrypoint:
            doc["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            doc["Cmd"] = list(self.cmd)
        if self.user:
            doc["User"] = self.user
        if self.env:
            doc["Env"] = [f"{key}={value}" for key, value in self.env.items()]
        if self.workdir:
            doc["WorkingDir"] = self.workdir
        if self.labels:
            doc["Labels"] = dict(sorted(self.labels.items()))
        return doc


@dataclass(frozen=True)
class Reference:
    """`registry/repository:tag`, normalised the way containerd's CRI names images."""

    registry: str
    repository: str
    tag: str

    @property
    def full(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


def parse_reference(text: str) -> Reference:
    """`NAME:TAG` (a registry and `library/` added as Docker does); UsageError on anything else."""
    if "@" in text or any(ch.isspace() for ch in text) or not text:
        raise UsageError(f"not an image name NAME:TAG: {text!r}")
    name, sep, tag = text.rpartition(":")
    if not sep or "/" in tag or not tag:
        raise UsageError(f"image name {text!r} needs a tag (NAME:TAG)")
    if not all(part and part == part.lower() for part in name.split("/")):
        raise UsageError(f"image name {text!r}: repository parts must be non-empty lower case")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return Reference(first, rest, tag)
    repository = name if "/" in name else f"library/{name}"
    return Reference(DEFAULT_REGISTRY, repository, tag)


@dataclass(frozen=True)
class Image:
    """A written image: where, its name, and the digests that identify it."""

    layout: Path
    reference: Reference
    manifest_digest: str
    config_digest: str
    layers: tuple[Layer, ...]


def canonical_json(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _blob(blobs: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    path = blobs / digest
    if not path.exists():
        write_atomically(path, data)
    return f"sha256:{digest}", len(data)


def write_layout(
    layout: Path,
    layers: Sequence[Layer],
    runtime: RuntimeConfig,
    reference: Reference,
    epoch: int,
    *,
    history: Sequence[str] = (),
    annotations: Mapping[str, str] | None = None,
) -> Image:
    """Write config, manifest and index for `layers` (already in `layout/blobs/sha256`)."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for layer in layers:
        if layer.path.parent.resolve() != blobs.resolve():
            raise UsageError(f"layer {layer.digest} is not in {blobs}")
    created = rfc3339(from_timestamp(epoch))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": runtime.as_json(),
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": created, "created_by": step} for step in history],
    }
    config_digest, config_size = _blob(blobs, canonical_json(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": config_digest, "size": config_size},
        "layers": [
            {"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}
            for layer in layers
        ],
        "annotations": {CREATED: created, **(annotations or {})},
    }
    manifest_digest, manifest_size = _blob(blobs, canonical_json(manifest))
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [
            {
                "mediaType": MANIFEST,
                "digest": manifest_digest,
                "size": manifest_size,
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {IMAGE_NAME: reference.full, REF_NAME: reference.tag},
            }
        ],
    }
    write_atomically(layout / "oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"}))
    write_atomically(layout / "index.json", canonical_json(index))
    _prune(blobs, {layer.digest for layer in layers} | {config_digest, manifest_digest})
    return Image(layout, reference, manifest_digest, config_digest, tuple(layers))


def _prune(blobs: Path, keep: set[str]) -> None:
    """Drop blobs no longer referenced (a layout is rewritten in place on a rebuild)."""
    for path in blobs.iterdir():
        if f"sha256:{path.name}" not in keep:
            path.unlink()


def write_archive(layout: Path, out: Path, epoch: int) -> str:
    """The layout as one reproducible tar at `out` (temp file + rename); returns its sha256."""
    blobs = sorted(path.name for path in (layout / "blobs" / "sha256").iterdir())
    names = ["oci-layout", "index.json", *(f"blobs/sha256/{name}" for name in blobs)]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as raw:
            with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for directory in ("blobs", "blobs/sha256"):
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, epoch
                    tar.addfile(info)
                for name in names:
                    path = layout / name
                    info = tarfile.TarInfo(name)
                    info.size, info.mode, info.mtime = path.stat().st_size, 0o644, epoch
                    with path.open("rb") as data:
                        tar.addfile(info, data)
            raw.flush()
            os.fsync(raw.fileno())
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sha = hashlib.sha256()
    with out.open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            sha.update(chunk)
    return f"sha256:{sha.hexdigest()}"


def read_index(layout: Path) -> dict[str, Any]:
    """index.json of a layout (for tests and the SBOM); UsageError when it is not one."""
    try:
        doc = json.loads((layout / "index.json").read_bytes())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{layout}: not an OCI layout ({exc})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{layout}: index.json is not an object")
    return doc


def reset(layout: Path) -> None:
    """Empty the layout directory for a fresh build; refuse to empty anything that is not an
    OCI layout (a mistyped --layout must not delete someone's directory)."""
    if layout.is_symlink() or (layout.exists() and not layout.is_dir()):
        raise UsageError(f"--layout {layout}: not a directory")
    if layout.exists() and any(layout.iterdir()):
        if not (layout / "oci-layout").is_file():
            raise UsageError(f"--layout {layout}: exists and is not an OCI layout; not touching it")
        shutil.rmtree(layout)
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
