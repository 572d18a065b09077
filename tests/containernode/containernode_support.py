"""For the container-node tests: find the node binaries and the images, or skip saying why; run
the plane's kubectl; await a condition with a bound.

Binaries: `DASK_KUBERNETES_NODE_BINARIES` (a directory) or the node build's cache. Images (pause
and the busybox test image): `DASK_KUBERNETES_NODE_IMAGES` (a directory holding pause.oci.tar and
busybox.oci.tar), else built by the release toolkit's `image` command into the session's
temporary directory (a few seconds), else skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dask_kubernetes.local.containernode.binaries import (
    NodeBinaries,
    NodeBinariesMissing,
    find_node_binaries,
)

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
IMAGES_ENVIRONMENT = "DASK_KUBERNETES_NODE_IMAGES"
PAUSE = "localhost/dask-kubernetes/pause:1"
BUSYBOX = "localhost/dask-kubernetes/busybox:1"
KUBECTL_ENV = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("a container node runs in network, mount and cgroup namespaces: needs root")
    if shutil.which("iptables") is None:
        pytest.skip("a container node's kube-proxy needs iptables (Debian's iptables package)")


def node_binaries() -> NodeBinaries:
    try:
        return find_node_binaries()
    except NodeBinariesMissing as exc:
        pytest.skip(str(exc))


def node_images(scratch: Path) -> tuple[Path, Path]:
    """(pause archive, busybox archive)."""
    configured = os.environ.get(IMAGES_ENVIRONMENT)
    if configured:
        pause, busybox = Path(configured) / "pause.oci.tar", Path(configured) / "busybox.oci.tar"
        if not (pause.is_file() and busybox.is_file()):
            pytest.skip(f"{IMAGES_ENVIRONMENT}={configured} lacks pause.oci.tar/busybox.oci.tar")
        return pause, busybox
    made = []
    for name in ("pause", "busybox"):
        out = scratch / f"{name}.oci.tar"
        result = subprocess.run(
            [sys.executable, "-m", "release", "image", name, "--out", str(out)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            pytest.skip(f"cannot build the {name} image here: {reason[0]}")
        made.append(out)
    return made[0], made[1]


def eventually(
    probe: Callable[[], T | None], *, timeout: float = 120.0, what: str = "condition"
) -> T:
    """Poll `probe` until it returns something other than None; fail after `timeout` (bounded
    for two busy cores, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout:.0f}s")
        time.sleep(0.2)


class Kubectl:
    """The plane's own kubectl with the cluster's admin kubeconfig."""

    def __init__(self, binary: Path, kubeconfig: str) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=KUBECTL_ENV,
            check=False,
        )

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
        result = self.run(*args, stdin=stdin, timeout=timeout)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def apply(self, *objects: dict[str, Any]) -> None:
        self(
            "apply",
            "-f",
            "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}),
        )

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        return dict(json.loads(self("get", kind, name, "-n", namespace, "-o", "json")))

    def wait_ready(self, pod: str, namespace: str, timeout: int = 120) -> None:
        self(
            "wait",
            "--for=condition=Ready",
            f"pod/{pod}",
            "-n",
            namespace,
            f"--timeout={timeout}s",
            timeout=timeout + 30,
        )


def pod(
    name: str,
    namespace: str,
    command: list[str],
    *,
    image: str = BUSYBOX,
    **spec: Any,
) -> dict[str, Any]:
    """A one-container pod of the test image (never pulled), killed fast on delete."""
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "imagePullPolicy": "Never",
        "command": command,
    }
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 1, **spec},
    }
