"""Fixtures for the image tests: one dist and one build of the operator and Dask images per
session (the Debian tree and the install layer come from the cache when present)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from image_support import apply_layers, read_archive, release

from dask_kubernetes_release.build.command import build_distributions


@pytest.fixture(scope="session")
def image_dist(clone_repo: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed tree's wheel and SHA256SUMS, as release.yml's build job hands them on."""
    base = tmp_path_factory.mktemp("image-dist")
    out = base / "dist"
    build_distributions(out, source=clone_repo(base / "clone"))
    done = release("manifest", out)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="session")
def python_images(
    image_dist: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """Both images, their archives read back, the operator's layers applied at `root`."""
    base = tmp_path_factory.mktemp("images")
    found: dict[str, dict[str, Any]] = {}
    for kind in ("operator", "dask"):
        archive = base / f"{kind}.oci.tar"
        done = release("image", kind, "--dist", image_dist, "--out", archive)
        assert done.returncode == 0, done.stderr
        image = read_archive(archive, base / f"{kind}-archive")
        image["archive"], image["stdout"] = archive, done.stdout
        found[kind] = image
    apply_layers(found["operator"], base / "root")
    found["operator"]["root"] = found["dask"]["root"] = base / "root"  # dask: + one layer
    return found
