"""Images into the node's containerd, from archives built here (there is no registry to pull from).

`ctr images import` of each OCI/Docker archive into containerd's `k8s.io` namespace (the one the
CRI uses), unpacked for the overlayfs snapshotter, before the kubelet starts: pods then find their
image with `imagePullPolicy: IfNotPresent` or `Never`, and the pinned pause image is there before
the first sandbox. `Always` cannot work here and fails the way it would on any offline node.

A registry pull records an image under its tag and under `repository@sha256:MANIFEST`; an import
records only the tag. So each archive's manifests are also named by digest here: a pod whose
image is pinned by digest (the chart's `image.digest`) then resolves to the imported image, as it
would to the pushed one, and a digest that was not imported cannot start a container.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

from dask_kubernetes.local.containernode.containerd import Containerd
from dask_kubernetes.local.controlplane.process import ComponentError


def import_archives(containerd: Containerd, pid: int, archives: list[Path]) -> list[str]:
    """Import each archive; returns the image names containerd reports afterwards."""
    for archive in archives:
        result = subprocess.run(
            containerd.ctr(pid, "images", "import", str(archive)),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise ComponentError(
                f"ctr images import {archive.name}: {(result.stderr or result.stdout).strip()}"
            )
        for name, pinned in digest_names(archive):
            tagged = subprocess.run(
                containerd.ctr(pid, "images", "tag", "--force", name, pinned),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if tagged.returncode != 0:
                raise ComponentError(f"ctr images tag {pinned}: {tagged.stderr.strip()}")
    return list_images(containerd, pid)


def digest_names(archive: Path) -> list[tuple[str, str]]:
    """(NAME:TAG, NAME@sha256:MANIFEST) for each named manifest in the archive's index.json."""
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile("index.json")
            index = json.loads(member.read()) if member is not None else {}
    except (KeyError, OSError, tarfile.TarError, ValueError):
        return []  # not an OCI layout archive (e.g. docker save's): its tag only
    names = []
    for manifest in index.get("manifests", []):
        name = manifest.get("annotations", {}).get("io.containerd.image.name", "")
        repository = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
        if repository and str(manifest.get("digest", "")).startswith("sha256:"):
            names.append((name, f"{repository}@{manifest['digest']}"))
    return names


def list_images(containerd: Containerd, pid: int) -> list[str]:
    result = subprocess.run(
        containerd.ctr(pid, "images", "list", "--quiet"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise ComponentError(f"ctr images list: {result.stderr.strip()}")
    return result.stdout.split()
