"""Images into the node's containerd, from archives built here (there is no registry to pull from).

`ctr images import` of each OCI/Docker archive into containerd's `k8s.io` namespace (the one the
CRI uses), unpacked for the overlayfs snapshotter, before the kubelet starts: pods then find their
image with `imagePullPolicy: IfNotPresent` or `Never`, and the pinned pause image is there before
the first sandbox. `Always` cannot work here and fails the way it would on any offline node.
"""

from __future__ import annotations

import subprocess
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
    return list_images(containerd, pid)


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
