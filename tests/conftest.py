"""Shared test configuration, including the Kubernetes cluster fixtures every e2e test uses."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures" / "pypi-attestations"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def attestation_fixtures() -> Path:
    """Real PyPI attestations (never copied into the repo)."""
    if not FIXTURES.is_dir():
        pytest.fail(f"attestation fixtures not found at {FIXTURES}")
    return FIXTURES


# -- Control planes: the emulator and the real kube-apiserver (tests/control_planes.py) ----------


def pytest_addoption(parser: pytest.Parser) -> None:
    from control_planes import CHOICES, OPTION

    parser.addoption(
        OPTION,
        choices=sorted(CHOICES),
        default="both",
        help="run the conformance suites on the emulator, the real control plane, or both",
    )
    from control_planes import NODE_CHOICES, NODE_OPTION

    parser.addoption(
        NODE_OPTION,
        choices=NODE_CHOICES,
        default="processes",
        help="the real plane's node: our kubelet (pods as processes) or the real kubelet with "
        "containerd (images from $DASK_KUBERNETES_NODE_IMAGES)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """On the container node the e2e suite's image (DASK_KUBERNETES_TEST_IMAGE, read when its
    modules are imported) is the Dask image built here; an explicit setting still wins."""
    from control_planes import node_kind

    if node_kind(config) == "containers" and not os.environ.get("DASK_KUBERNETES_TEST_IMAGE"):
        from shipped_images import DASK_REFERENCE

        os.environ["DASK_KUBERNETES_TEST_IMAGE"] = DASK_REFERENCE


@pytest.fixture(scope="session")
def real_control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real etcd + kube-apiserver + controller manager + scheduler, once per session (no node).

    Skips, saying how to build them, when the binaries for the committed pins are not cached.
    """
    from control_planes import built_binaries

    from dask_kubernetes.local.controlplane.plane import ControlPlane

    built = built_binaries()
    with ControlPlane(built.directory / "bin", tmp_path_factory.mktemp("real-plane")) as plane:
        yield plane


# -- Kubernetes cluster fixtures (the local stand-in, or a real cluster) ------------------------
#
# `DASK_KUBERNETES_TEST_KUBECONFIG=/path/to/kubeconfig` runs the same tests against a real cluster
# (e.g. kind in the release workflow); otherwise a `LocalKubernetes` stand-in serves the session.

EXTERNAL_KUBECONFIG = "DASK_KUBERNETES_TEST_KUBECONFIG"


@dataclass
class K8sCluster:
    """What a test may rely on: a kubeconfig; the API server object only on the stand-in."""

    kubeconfig: str
    api_server: Any | None
    local: bool
    stand_in: Any | None = None
    #: "emulated" (our API server), "real" (`LocalKubernetes(control_plane="real")`), "external".
    plane: str = "emulated"
    #: Whether a kubelet runs pods (not so on the bare real ControlPlane used without root).
    node: bool = True
    #: On the container node: the shipped images (tests/shipped_images.py) and the chart's
    #: install (tests/shipped_chart.py); KubeCluster's pods run `dask_image`.
    shipped: Any | None = None
    installed: Any | None = None

    @property
    def dask_image(self) -> str | None:
        return self.shipped.images["dask"].reference if self.shipped is not None else None

    def require_api_server(self) -> Any:
        """Fault injection and the audit log exist only on the stand-in's emulated API server."""
        if self.api_server is None:
            pytest.skip(
                f"needs the emulated API server's fault injection / audit ({self.plane} plane)"
            )
        return self.api_server


def _cluster(operator: bool) -> Iterator[K8sCluster]:
    external = os.environ.get(EXTERNAL_KUBECONFIG)
    if external:
        yield K8sCluster(kubeconfig=external, api_server=None, local=False, plane="external")
        return
    from dask_kubernetes.local import LocalKubernetes

    with LocalKubernetes(operator=operator) as k8s:
        yield K8sCluster(
            kubeconfig=k8s.kubeconfig, api_server=k8s.api_server, local=True, stand_in=k8s
        )


@pytest.fixture(scope="session")
def k8s_cluster(request: pytest.FixtureRequest) -> Iterator[K8sCluster]:
    """A Kubernetes cluster for the session: the local stand-in (no operator) by default; with
    `--node=containers`, the one cluster such a session starts (the real plane, the container
    node, the chart's operator: `k8s_real_cluster_with_operator`), so the suites written against
    this fixture (tests/operator) run against what ships."""
    from control_planes import node_kind

    if node_kind(request.config) == "containers" and not os.environ.get(EXTERNAL_KUBECONFIG):
        yield request.getfixturevalue("k8s_real_cluster_with_operator")
        return
    yield from _cluster(operator=False)


@pytest.fixture(scope="session")
def k8s_cluster_with_operator() -> Iterator[K8sCluster]:
    """A second stand-in running the dask-kubernetes operator (a real cluster must have it)."""
    yield from _cluster(operator=True)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`plane_cluster` once per control plane (`--control-plane`), like tests/local/api's."""
    if "plane_cluster" in metafunc.fixturenames:
        from control_planes import EXTERNAL, selected

        external = os.environ.get(EXTERNAL_KUBECONFIG)
        planes = (EXTERNAL,) if external else selected(metafunc.config)
        metafunc.parametrize("plane_cluster", planes, indirect=True, scope="session")


@pytest.fixture(scope="session")
def plane_cluster(request: pytest.FixtureRequest) -> K8sCluster:
    """The stand-in (no operator) or the real control plane (`real_plane`), per parameter."""
    from control_planes import REAL

    if request.param != REAL:
        cluster: K8sCluster = request.getfixturevalue("k8s_cluster")
        return cluster
    real: K8sCluster = request.getfixturevalue("real_plane")
    return real


@pytest.fixture(scope="session")
def real_plane(request: pytest.FixtureRequest) -> K8sCluster:
    """The real control plane the conformance suites use, as its admin.

    As root: the session's one real cluster with our kubelet as its node (the same cluster as
    tests/e2e's `k8s_real_cluster_with_operator`, so a session starts one, not two). Without
    root: the bare `ControlPlane` on loopback, no node; tests needing one skip saying so.
    """
    from control_planes import REAL

    if os.geteuid() == 0:
        cluster: K8sCluster = request.getfixturevalue("k8s_real_cluster_with_operator")
        return cluster
    plane = request.getfixturevalue("real_control_plane")
    return K8sCluster(
        str(plane.admin_kubeconfig), api_server=None, local=False, plane=REAL, node=False
    )


@pytest.fixture
def plane_namespace(plane_cluster: K8sCluster, make_namespace: Callable[[K8sCluster], str]) -> str:
    """A fresh namespace in `plane_cluster`, deleted (with everything in it) afterwards."""
    return make_namespace(plane_cluster)


@pytest.fixture(scope="session")
def k8s_real_cluster_with_operator(request: pytest.FixtureRequest) -> Iterator[K8sCluster]:
    """The real control plane (etcd, kube-apiserver, controller manager, scheduler; our kubelet
    as its node) with the operator under the chart's RBAC; one per session."""
    if os.environ.get(EXTERNAL_KUBECONFIG):
        pytest.skip(f"real control plane: {EXTERNAL_KUBECONFIG} is set, the suite runs there")
    if os.geteuid() != 0:
        pytest.skip("real control plane with a node: needs root (it runs in a network namespace)")
    from control_planes import built_binaries, node_kind, node_options

    from dask_kubernetes.local import LocalKubernetes

    binaries = built_binaries().directory / "bin"
    if node_kind(request.config) == "containers":
        yield from _shipped_cluster(request, binaries)
        return
    node = node_options(request.config)
    with LocalKubernetes(operator=True, control_plane="real", binaries=binaries, **node) as k8s:
        yield K8sCluster(
            kubeconfig=k8s.kubeconfig, api_server=None, local=True, stand_in=k8s, plane="real"
        )


@pytest.fixture(scope="session")
def shipped_images() -> Any:
    """The pause, operator and Dask images of HEAD's wheel (cached by the wheel's digest)."""
    from shipped_images import shipped_images as build

    return build()


def _shipped_cluster(request: pytest.FixtureRequest, binaries: Path) -> Iterator[K8sCluster]:
    """`--node=containers`: the real plane with the real kubelet and containerd, the shipped
    images imported, and the operator installed by `helm install` of our chart (the operator
    image by digest), as a user installs it; no operator host process."""
    from control_planes import node_options
    from shipped_chart import ChartInstallFailed, helm_install, operator_pod_diagnosis

    from dask_kubernetes.local import LocalKubernetes

    if shutil.which("iptables") is None:
        pytest.skip("container node: its kube-proxy needs iptables (Debian's iptables package)")
    shipped = request.getfixturevalue("shipped_images")
    node = node_options(request.config, images=shipped.archives)
    # Audited (kube-apiserver's log, Metadata level): tests/gateway judges the chart's gateway
    # Role by what the gateway's account asked for, as on the process node's plane.
    with LocalKubernetes(control_plane="real", binaries=binaries, audit=True, **node) as k8s:
        try:
            installed = helm_install(k8s.kubeconfig, shipped.images["operator"])
        except ChartInstallFailed as exc:
            diagnosis = operator_pod_diagnosis(binaries / "kubectl", k8s.kubeconfig)
            pytest.fail(f"{exc}\n{diagnosis}")
        print(f"shipped: {shipped.seconds} helm install {installed.seconds}s")
        yield K8sCluster(
            kubeconfig=k8s.kubeconfig,
            api_server=None,
            local=True,
            stand_in=k8s,
            plane="real",
            shipped=shipped,
            installed=installed,
        )


@pytest.fixture
def make_namespace() -> Iterator[Callable[[K8sCluster], str]]:
    """Fresh namespaces on demand; each is deleted, with its contents, after the test."""
    import kr8s
    from kr8s.objects import Namespace

    created: list[Namespace] = []

    def make(cluster: K8sCluster) -> str:
        api = kr8s.api(kubeconfig=cluster.kubeconfig)
        namespace = Namespace({"metadata": {"name": f"test-{uuid.uuid4().hex[:10]}"}}, api=api)
        namespace.create()
        created.append(namespace)
        return str(namespace.name)

    yield make
    for namespace in created:
        namespace.delete()


@pytest.fixture
def k8s_namespace(k8s_cluster: K8sCluster, make_namespace: Callable[[K8sCluster], str]) -> str:
    """A fresh namespace in `k8s_cluster`, deleted (with everything in it) afterwards."""
    return make_namespace(k8s_cluster)


def _make_dist(
    directory: Path,
    filename: str,
    *,
    name: str = "dask-kubernetes",
    version: str = "2026.3.0",
    member: str | None = None,
    metadata: bytes | None = None,
    padding: int = 0,
) -> Path:
    """A small but real wheel or sdist (by suffix) whose metadata says `name` `version`.

    Byte-stable: fixed timestamps, and `padding` pseudo-random (incompressible) bytes.
    """
    from dask_kubernetes_release.core.metadata import (
        name_version_stem,
    )  # only the release tests need it

    if metadata is None:
        metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    pad = hashlib.shake_256(filename.encode()).digest(padding)
    path = directory / filename
    if filename.endswith(".whl"):
        member = member or f"{name_version_stem(filename)}.dist-info/METADATA"
        with zipfile.ZipFile(path, "w") as archive:
            for arcname, data in ((member, metadata), ("dask_kubernetes/pad.bin", pad)):
                archive.writestr(zipfile.ZipInfo(arcname, (2026, 3, 1, 0, 0, 0)), data)
        return path
    member = member or f"{name_version_stem(filename)}/PKG-INFO"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for arcname, data in ((f"{name_version_stem(filename)}/pad.bin", pad), (member, metadata)):
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    return path


@pytest.fixture(scope="session")
def make_dist() -> Callable[..., Path]:
    """`_make_dist`: small real distributions for the release tests."""
    return _make_dist
