"""Dask on the container node (issue 25, item 5): KubeCluster through the operator (a host process
under the chart's RBAC), scheduler and worker in containers of the Dask image built here; a worker
over its memory limit is OOM-killed by the kernel, the kubelet restarts it, and Dask computes again.

Needs the Dask image archive: `dask.oci.tar` in $DASK_KUBERNETES_NODE_IMAGES (with pause.oci.tar),
made by `python -m release image dask --dist DIST`; skips saying so otherwise.
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


@pytest.fixture(scope="module")
def dask_node(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[tuple[LocalKubernetes, str]]:
    require_root()
    directory = os.environ.get(IMAGES_ENVIRONMENT)
    if not directory or not (Path(directory) / "dask.oci.tar").is_file():
        pytest.skip(f"needs dask.oci.tar and pause.oci.tar in ${IMAGES_ENVIRONMENT}")
    archives = (Path(directory) / "pause.oci.tar", Path(directory) / "dask.oci.tar")
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
