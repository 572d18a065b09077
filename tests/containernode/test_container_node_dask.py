"""Dask on the container node (issue 25, item 5): KubeCluster through the operator (a host process
under the chart's RBAC), scheduler and worker in containers of the Dask image built here; a worker
over its memory limit is OOM-killed by the kernel, the kubelet restarts it, and Dask computes again.

The Dask image archive: `dask.oci.tar` in $DASK_KUBERNETES_NODE_IMAGES (with pause.oci.tar), made
by `python -m release image dask --dist DIST`, or else the images that ship, built from HEAD's wheel
(tests/shipped_images.py, cached); skips saying why when neither can be had.
"""

from __future__ import annotations

import ipaddress
import json
import operator
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from containernode_support import (
    IMAGES_ENVIRONMENT,
    Kubectl,
    eventually,
    node_binaries,
    require_root,
)
from control_planes import built_binaries
from shipped_images import shipped_images
from tls_error_leak import CORRECT, Verdict, probe

from dask_kubernetes.local import LocalKubernetes
from dask_kubernetes.local.network.netns import POD_CIDR

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
LIMIT = "512Mi"  # a worker and its nanny fit; the 1 GiB task does not


def _image_name(archive: Path) -> str:
    """The name the archive's index gives its image (what containerd imports it as)."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        assert member is not None
        index = json.load(member)
    return str(index["manifests"][0]["annotations"]["io.containerd.image.name"])


def _dask_archives() -> tuple[Path, Path]:
    """pause.oci.tar and dask.oci.tar from $DASK_KUBERNETES_NODE_IMAGES when it is set, else the
    images that ship, built from HEAD's wheel (cached; `.ci/run` warms them), else a skip."""
    directory = os.environ.get(IMAGES_ENVIRONMENT)
    if directory:
        if not (Path(directory) / "dask.oci.tar").is_file():
            pytest.skip(f"needs dask.oci.tar and pause.oci.tar in ${IMAGES_ENVIRONMENT}")
        return Path(directory) / "pause.oci.tar", Path(directory) / "dask.oci.tar"
    images = shipped_images().images
    return images["pause"].archive, images["dask"].archive


@pytest.fixture(scope="module")
def dask_node(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[tuple[LocalKubernetes, str]]:
    require_root()
    archives = _dask_archives()
    plane = built_binaries().directory / "bin"
    with LocalKubernetes(
        control_plane="real",
        operator=True,
        binaries=plane,
        node="containers",
        node_binaries=node_binaries().bin,
        images=archives,
    ) as k8s:
        monkeypatch_module.setenv("KUBECONFIG", k8s.kubeconfig)
        yield k8s, _image_name(archives[1])


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_a_worker_over_its_memory_limit_is_oom_killed_and_dask_recovers(
    dask_node: tuple[LocalKubernetes, str],
) -> None:
    from distributed import Client
    from distributed.scheduler import KilledWorker

    from dask_kubernetes.operator import KubeCluster, make_cluster_spec

    k8s, image = dask_node
    assert k8s.real is not None and k8s.real.plane is not None
    kubectl = Kubectl(k8s.real.plane.binaries / "kubectl", k8s.kubeconfig)
    resources = {"limits": {"memory": LIMIT}, "requests": {"memory": LIMIT}}
    # No retries of a task that killed its worker: the OOM shows at once as KilledWorker.
    env = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    spec = make_cluster_spec("oom", image=image, n_workers=1, resources=resources, env=env)
    # The limit is the worker's only: a scheduler under the same limit was itself OOM-killed by
    # its first task (both connections dropped at once), which is not what this test is about.
    del spec["spec"]["scheduler"]["spec"]["containers"][0]["resources"]
    # The worker as the container's only process: with a nanny, the kernel kills only the worker
    # child and the nanny restarts it inside the same container, so the container never shows
    # OOMKilled; without one, the kernel's OOM kill ends the container and the kubelet restarts it.
    spec["spec"]["worker"]["spec"]["containers"][0]["args"].append("--no-nanny")
    with (
        KubeCluster(custom_cluster_spec=spec) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        client.wait_for_workers(1, timeout=180)
        # Functions by reference: the image's Python (3.13) is not necessarily the client's.
        assert client.submit(operator.add, 41, 1, pure=False).result(timeout=60) == 42
        hosts = [w["host"] for w in client.scheduler_info()["workers"].values()]
        assert all(ipaddress.ip_address(h) in ipaddress.ip_network(POD_CIDR) for h in hosts)

        hog = client.submit(os.urandom, 2**30, pure=False)  # 1 GiB, touched, against 512 MiB
        with pytest.raises(KilledWorker):
            hog.result(timeout=180)

        def oom_killed() -> dict[str, object] | None:
            listed = json.loads(
                kubectl("get", "pods", "-l", "dask.org/component=worker", "-o", "json")
            )["items"]
            for item in listed:
                for status in item["status"].get("containerStatuses", []):
                    last = status.get("lastState", {}).get("terminated")
                    if last and last.get("reason") == "OOMKilled":
                        return dict(status)
            return None

        status = eventually(oom_killed, timeout=180, what="an OOMKilled worker container")
        assert int(str(status["restartCount"])) >= 1
        # The same pod's restarted worker joins again and the computation returns its result.
        client.wait_for_workers(1, timeout=180)
        assert client.submit(operator.mul, 6, 7, pure=False).result(timeout=120) == 42


@pytest.fixture(scope="module")
def two_dask_nodes(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[tuple[LocalKubernetes, str]]:
    require_root()
    archives = _dask_archives()
    with LocalKubernetes(
        control_plane="real",
        operator=True,
        binaries=built_binaries().directory / "bin",
        node="containers",
        node_binaries=node_binaries().bin,
        images=archives,
        nodes=2,
    ) as k8s:
        monkeypatch_module.setenv("KUBECONFIG", k8s.kubeconfig)
        yield k8s, _image_name(archives[1])


@pytest.fixture(scope="module")
def dask_image_tls(tmp_path_factory: pytest.TempPathFactory) -> Verdict:
    """What the Dask image's Python does to a healthy TLS socket after another one failed."""
    require_root()  # chroot into the image's layers
    _, dask_archive = _dask_archives()
    return probe(dask_archive, tmp_path_factory.mktemp("tls-probe"))


def test_one_failed_tls_connection_leaves_the_others_alone_in_the_dask_image(
    dask_image_tls: Verdict,
) -> None:
    """The scheduler's TLS server must not close a healthy connection because another failed:
    that is what closed the client's port-forwarded connection as workers registered (their
    nannies hang up after `register_nanny`). Upstream CPython gh-148594 with OpenSSL 3.4+
    (the image on Debian trixie: 3.13 + OpenSSL 3.5) does; then this test xfails saying so."""
    assert dask_image_tls.control == CORRECT, f"the probe itself is broken: {dask_image_tls}"
    if dask_image_tls.leaks:
        pytest.xfail(
            f"upstream CPython gh-148594 (OpenSSL error queue not cleared): {dask_image_tls}"
        )
    assert dask_image_tls.healthy == CORRECT


def test_losing_a_node_mid_computation_the_operator_replaces_its_worker(
    two_dask_nodes: tuple[LocalKubernetes, str],
    dask_image_tls: Verdict,
    request: pytest.FixtureRequest,
) -> None:
    """Workers spread over two nodes; the second node's kubelet and containerd stop while tasks
    run: NotReady, eviction, the operator makes a new worker on the first node, and every task
    returns its result. Recovery time printed (`-s`)."""
    if dask_image_tls.leaks:
        # Expected to fail only for the diagnosed, upstream cause; with an image whose Python
        # keeps TLS errors per socket (e.g. built `--suite bookworm`) it must pass.
        request.applymarker(
            pytest.mark.xfail(
                strict=False,
                reason="the scheduler's Python closes the client's healthy TLS connection when "
                f"a nanny's connection fails (CPython gh-148594): {dask_image_tls}",
            )
        )
    import time

    from distributed import Client

    from dask_kubernetes.operator import KubeCluster, make_cluster_spec

    k8s, image = two_dask_nodes
    assert k8s.real is not None and k8s.real.plane is not None
    kubectl = Kubectl(k8s.real.plane.binaries / "kubectl", k8s.kubeconfig)
    spec = make_cluster_spec("lose", image=image, n_workers=2)
    scheduler = spec["spec"]["scheduler"]["spec"]
    scheduler["nodeSelector"] = {"kubernetes.io/hostname": "local"}  # the node that stays
    worker = spec["spec"]["worker"]["spec"]
    # Users' setting for fast failover: leave an unreachable node after 2 s, not 300 s.
    worker["tolerations"] = [
        {"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 2}
        for taint in ("unreachable", "not-ready")
    ]  # fmt: skip
    worker["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            "nodeTaintsPolicy": "Honor",
            "labelSelector": {"matchLabels": {"dask.org/component": "worker"}},
        }
    ]
    with (
        KubeCluster(custom_cluster_spec=spec) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        try:
            client.wait_for_workers(2, timeout=180)
        except Exception:
            print(kubectl("get", "pods", "-o", "wide"))  # the context a failure needs
            print(kubectl.run("logs", "lose-scheduler", "--tail=60").stdout)
            raise
        placed = json.loads(
            kubectl("get", "pods", "-l", "dask.org/component=worker", "-o", "json")
        )["items"]
        assert sorted(p["spec"]["nodeName"] for p in placed) == ["local", "local-2"]
        # Tasks by reference (the image's Python is 3.13): 120 x 1 s over two workers.
        futures = client.map(time.sleep, [1.0] * 120, pure=False)
        started = time.monotonic()
        k8s.real.further_nodes[0][0].stop_runtime()

        def replaced() -> list[str] | None:
            listed = json.loads(
                kubectl("get", "pods", "-l", "dask.org/component=worker", "-o", "json")
            )["items"]
            live = [
                p["spec"].get("nodeName")
                for p in listed
                if "deletionTimestamp" not in p["metadata"]
                and p["status"].get("phase") == "Running"
            ]
            return live if sorted(live) == ["local", "local"] else None

        eventually(replaced, timeout=240, what="the operator's replacement worker on local")
        recovered = time.monotonic() - started
        try:
            results = client.gather(futures)
        except Exception:
            print(kubectl("get", "pods", "-o", "wide"))  # the context a failure needs
            print(kubectl.run("logs", "lose-scheduler", "--tail=40").stdout)
            print(kubectl.run("logs", "lose-scheduler", "--previous", "--tail=40").stdout)
            raise
        assert results == [None] * 120  # every task returned its result
        # The evicted pod stays Terminating while its node is unreachable (no kubelet confirms
        # the end): as an administrator would, remove the lost node's pods for good, so the
        # cluster's foreground deletion can finish.
        for item in json.loads(kubectl("get", "pods", "-o", "json"))["items"]:
            if item["spec"].get("nodeName") == "local-2":
                name = item["metadata"]["name"]
                kubectl("delete", "pod", name, "--grace-period=0", "--force", "--wait=false")
        done = time.monotonic() - started
        print(f"node lost mid-computation: replacement running after {recovered:.1f}s, "
              f"all 120 tasks done after {done:.1f}s")  # fmt: skip
