"""What ships, run as shipped: the chart installed by helm with the operator image by digest,
its securityContext enforced by runc, and a KubeCluster computing in the Dask image.

Runs on `--control-plane=real --node=containers` (the session's container-node cluster,
tests/conftest.py `_shipped_cluster`); skips, saying so, on any other node. Everything is read
from the running system (the kubelet's pod status, /proc inside the container), not from the
rendered manifest.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]
_NO_KUBECONFIG = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}


@pytest.fixture(autouse=True)
def _operator_log_on_failure(request: pytest.FixtureRequest) -> Any:
    """The operator pod's log tail in the captured output (pytest shows it on failure)."""
    yield
    if "shipped" in request.fixturenames:
        from shipped_chart import operator_pod_diagnosis

        cluster = request.getfixturevalue("shipped")
        binary = Path(cluster.stand_in.real.plane.binaries) / "kubectl"
        print(operator_pod_diagnosis(binary, cluster.kubeconfig))


@pytest.fixture(scope="module")
def shipped(request: pytest.FixtureRequest) -> Any:
    from control_planes import node_kind

    if node_kind(request.config) != "containers":
        pytest.skip("runs on the container node: --control-plane=real --node=containers")
    cluster = request.getfixturevalue("k8s_real_cluster_with_operator")
    assert cluster.installed is not None
    return cluster


def kubectl(cluster: Any, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = Path(cluster.stand_in.real.plane.binaries) / "kubectl"
    done = subprocess.run(
        [str(binary), f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_NO_KUBECONFIG,
        check=False,
    )
    if check:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def operator_pod(cluster: Any) -> dict[str, Any]:
    namespace = cluster.installed.namespace
    selector = f"app.kubernetes.io/instance={cluster.installed.release}"
    pods = json.loads(
        kubectl(cluster, "get", "pods", "-n", namespace, "-l", selector, "-o", "json").stdout
    )["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running"]
    assert len(running) == 1, [p["metadata"]["name"] for p in pods]
    return dict(running[0])


def exec_in(cluster: Any, pod: dict[str, Any], *command: str) -> subprocess.CompletedProcess[str]:
    return kubectl(
        cluster,
        "exec",
        "-n",
        pod["metadata"]["namespace"],
        pod["metadata"]["name"],
        "--",
        *command,
        check=False,
    )


def request_diagnosis(cluster: Any, namespace: str) -> None:
    """At teardown, print the namespace's pods, events and logs (shown if the test failed)."""
    _pending.append((cluster, namespace))


_pending: list[tuple[Any, str]] = []


@pytest.fixture(autouse=True)
def _namespace_log_on_failure() -> Any:
    yield
    while _pending:
        cluster, namespace = _pending.pop()
        _dump(cluster, namespace)


def _dump(cluster: Any, namespace: str) -> None:
    """The namespace's pods, events and each pod's log (also its previous container's)."""
    if cluster is not None:
        print(
            kubectl(
                cluster, "get", "pods,events", "-n", namespace, "-o", "wide", check=False
            ).stdout
        )
        for pod in kubectl(
            cluster, "get", "pods", "-n", namespace, "-o", "name", check=False
        ).stdout.split():
            for extra in ((), ("--previous",)):
                done = kubectl(
                    cluster, "logs", "-n", namespace, pod, "--tail=30", *extra, check=False
                )
                print(pod, extra, done.stdout[-3000:], done.stderr[-500:])


def test_the_operator_runs_the_image_the_chart_pins_by_digest(shipped: Any) -> None:
    """The Deployment names repository:tag@sha256:MANIFEST and the kubelet reports it ran the
    image with exactly that digest (imported here, never pulled)."""
    operator = shipped.shipped.images["operator"]
    pod = operator_pod(shipped)
    (container,) = pod["spec"]["containers"]
    assert container["image"] == shipped.installed.image
    assert container["image"].endswith(f"@{operator.digest}")
    assert container["imagePullPolicy"] == "Never"
    (status,) = pod["status"]["containerStatuses"]
    assert status["ready"] is True
    assert status["imageID"].endswith(operator.digest), status["imageID"]


def test_runc_enforces_the_charts_security_context(shipped: Any) -> None:
    """Inside the running operator container: uid/gid 1000, no effective or bounding
    capabilities, no_new_privs, and the root filesystem refuses a write (only /tmp, the chart's
    emptyDir, is writable)."""
    pod = operator_pod(shipped)
    status = exec_in(shipped, pod, "cat", "/proc/1/status")
    assert status.returncode == 0, status.stderr
    fields = dict(line.split(":", 1) for line in status.stdout.splitlines() if ":" in line)
    assert fields["Uid"].split() == ["1000"] * 4
    assert fields["Gid"].split() == ["1000"] * 4
    assert int(fields["CapEff"].strip(), 16) == 0
    assert int(fields["CapBnd"].strip(), 16) == 0
    assert int(fields["CapPrm"].strip(), 16) == 0
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2"  # RuntimeDefault: a filter is installed
    write = exec_in(shipped, pod, "python", "-c", "open('/shipped-probe', 'w')")
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr
    usr = exec_in(shipped, pod, "python", "-c", "open('/usr/local/probe', 'w')")
    assert usr.returncode != 0 and "Read-only file system" in usr.stderr
    scratch = exec_in(shipped, pod, "python", "-c", "open('/tmp/probe', 'w').write('x')")
    assert scratch.returncode == 0, scratch.stderr


def test_a_kubecluster_computes_in_the_dask_image(
    shipped: Any, make_namespace: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KubeCluster with the shipped Dask image: the scheduler and worker pods run it (the
    kubelet says so), and a computation returns its result from a worker in a container."""
    import dask.config
    from distributed import Client

    from dask_kubernetes.operator import KubeCluster

    namespace = make_namespace(shipped)
    monkeypatch.setenv("KUBECONFIG", shipped.kubeconfig)
    request_diagnosis(shipped, namespace)
    dask_image = shipped.shipped.images["dask"]
    with (
        dask.config.set({"kubernetes.image": dask_image.reference}),
        KubeCluster(name="shipped", namespace=namespace, n_workers=1) as cluster,
    ):
        with Client(cluster) as client:
            try:
                client.wait_for_workers(1, timeout=120)
            except Exception:
                _dump(shipped, namespace)
                raise
            assert client.submit(lambda x: x + 1, 41).result(timeout=120) == 42
            hostnames = client.run(socket.gethostname)
        pods = json.loads(kubectl(shipped, "get", "pods", "-n", namespace, "-o", "json").stdout)[
            "items"
        ]
    images = {
        c["imageID"].rsplit("@", 1)[-1]
        for p in pods
        for c in p["status"].get("containerStatuses", [])
    }
    assert images == {dask_image.digest}
    assert {p["metadata"]["name"] for p in pods} >= set(hostnames.values())
