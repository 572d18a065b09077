"""The node the benches' pods run on: our process kubelet, or the container node (real kubelet,
containerd, runc) with the images that ship.

Why a module: bench_operator.py and bench_kubecluster.py take the same `--node` and must set it
up the same way for ours and for upstream, so the comparison stays fair. The images are the ones
the test session builds (tests/shipped_images.py: HEAD's wheel -> `release image
pause|operator|dask`, cached by the wheel's digest); that function is reused from tests/, not
copied. A bench that cannot run here says why in one line and exits 2.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent
NODES = ("processes", "containers")


@dataclass(frozen=True)
class Node:
    """`LocalKubernetes` keywords for the node, and the image pods run (None: host processes)."""

    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    dask_image: str | None = None

    def describe(self) -> str:
        return self.kind + (f" (pods run {self.dask_image})" if self.dask_image else "")


def cannot_run(reason: str) -> NoReturn:
    """One line, exit 2: the bench cannot run on this machine as asked."""
    print(f"cannot run: {reason}", file=sys.stderr)
    raise SystemExit(2)


def check_plane(node: str, plane: str) -> None:
    if node == "containers" and plane != "real":
        cannot_run("--node containers needs --control-plane real (the emulator has no kubelet)")


def prepare(node: str, images: Path | None) -> Node:
    """The node's options: for containers, the node binaries, the pause/operator/Dask archives
    (from `images`, a directory with images.json, or built from HEAD as the tests build them)."""
    if node == "processes":
        return Node(node)
    if os.geteuid() != 0:
        cannot_run("the container node needs root (namespaces, cgroups, overlayfs)")
    from dask_kubernetes.local.containernode.binaries import (
        NodeBinariesMissing,
        find_node_binaries,
    )

    try:
        binaries = find_node_binaries()
    except NodeBinariesMissing as exc:
        cannot_run(f"container node binaries: {exc}")
    archives, dask_image = _given(images) if images is not None else _built()
    options = {"node": "containers", "node_binaries": binaries.bin, "images": archives}
    return Node(node, options, dask_image)


def _given(directory: Path) -> tuple[tuple[Path, ...], str]:
    """A directory as tests/shipped_images.py leaves it: *.oci.tar and images.json."""
    try:
        entries = json.loads((directory / "images.json").read_text(encoding="utf-8"))
        dask = entries["dask"]
        reference = f"{dask['repository']}:{dask['tag']}"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        cannot_run(f"--images {directory}: no usable images.json ({exc})")
    archives = tuple(sorted(directory.glob("*.oci.tar")))
    if not any(a.name == "pause.oci.tar" for a in archives):
        cannot_run(f"--images {directory}: no pause.oci.tar (the node's sandbox image)")
    return archives, reference


def _built() -> tuple[tuple[Path, ...], str]:
    """HEAD's images, by the test session's own function (a skip there is our exit 2)."""
    import pytest

    sys.path.insert(0, str(ROOT / "tests"))
    from shipped_images import shipped_images

    try:
        shipped = shipped_images()
    except pytest.skip.Exception as exc:
        cannot_run(str(exc.msg))
    print(f"images: {shipped.seconds} (wheel sha256 {shipped.wheel_sha256[:12]})", flush=True)
    return shipped.archives, shipped.images["dask"].reference
