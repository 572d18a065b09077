"""Layers + runtime config -> OCI layout, archive and SBOM: the one path every image takes.

Why one path: the pause image, busybox, CoreDNS, the operator and the Dask image differ only in
their file trees and config; the steps that make them reproducible and importable (layer
writing, the layout, the archive, the SBOM beside it) must not differ.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dask_kubernetes_release.image.layer import Layer, write_layer
from dask_kubernetes_release.image.oci import (
    Reference,
    RuntimeConfig,
    reset,
    write_archive,
    write_layout,
)
from dask_kubernetes_release.image.sbom import Component, write_sbom


@dataclass(frozen=True)
class Built:
    """What one build wrote: the archive to import, its SBOM, and the digests to pin."""

    reference: Reference
    archive: Path
    archive_digest: str
    sbom: Path
    manifest_digest: str
    config_digest: str
    layers: tuple[Layer, ...]

    def summary(self) -> str:
        name = f"{self.reference.full}@{self.manifest_digest}"
        return f"{name} -> {self.archive} (sbom {self.sbom.name})"


def sbom_path(archive: Path) -> Path:
    name = archive.name.removesuffix(".tar")
    return archive.with_name(f"{name}.cdx.json")


def normalize_tree(tree: Path) -> None:
    """Modes that do not depend on the builder's umask: directories 0755 (sticky ones 1777),
    files 0755 when executable else 0644 (the layer makes them root's). For trees assembled
    here, not Debian's."""
    for current, directories, files in os.walk(tree):
        for name in [*directories, *files]:
            path = Path(current) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                continue
            if stat.S_ISDIR(st.st_mode):
                path.chmod(0o1777 if st.st_mode & stat.S_ISVTX else 0o755)
            else:
                path.chmod(0o755 if st.st_mode & 0o111 else 0o644)


def assemble(
    *,
    layers: Sequence[Layer],
    runtime: RuntimeConfig,
    reference: Reference,
    epoch: int,
    layout: Path,
    archive: Path,
    components: Sequence[Component],
    history: Sequence[str] = (),
    distro: str = "",
) -> Built:
    """Write the layout (layers already in its blob directory), the archive and the SBOM."""
    image = write_layout(layout, layers, runtime, reference, epoch, history=history)
    archive_digest = write_archive(layout, archive, epoch)
    sbom = sbom_path(archive)
    write_sbom(sbom, reference.full, image.manifest_digest, components, epoch, distro)
    return Built(
        reference=reference,
        archive=archive,
        archive_digest=archive_digest,
        sbom=sbom,
        manifest_digest=image.manifest_digest,
        config_digest=image.config_digest,
        layers=tuple(layers),
    )


def single_layer_image(
    tree: Path,
    *,
    runtime: RuntimeConfig,
    reference: Reference,
    epoch: int,
    archive: Path,
    components: Sequence[Component],
    layout: Path | None = None,
    history: str = "",
) -> Built:
    """A scratch image: one layer holding `tree` (normalised), written next to `archive`."""
    normalize_tree(tree)
    with tempfile.TemporaryDirectory(dir=archive.parent, prefix=".layout-") as scratch:
        target = layout or Path(scratch) / "layout"
        reset(target)
        blobs = target / "blobs" / "sha256"
        layer = write_layer(tree, blobs, epoch, owner=(0, 0))
        return assemble(
            layers=[layer],
            runtime=runtime,
            reference=reference,
            epoch=epoch,
            layout=target,
            archive=archive,
            components=components,
            history=[history] if history else [],
        )
