"""What upstream dask-kubernetes' docs tell users to run with kubectl, against each control plane.

`kubectl explain daskcluster.spec` (needs the CRD's schema in the OpenAPI v3 document, tagged
with its group/version/kind) and `kubectl port-forward svc/NAME LOCAL:PORT` for the dashboard
(kubectl speaks SPDY/3.1 tunnelled over a WebSocket; see local/wire/spdy.py).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from control_planes import REAL, require_node
from standin_support import create_pod, create_service, is_ready, python_pod, service, wait_for

KUBECTL = shutil.which("kubectl")
CRDS = Path(__file__).resolve().parents[2] / "src" / "dask_kubernetes" / "operator" / "crds"
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

HTTP_SERVER = (
    "import http.server\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = ('via kubectl ' + self.path).encode()\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers(); self.wfile.write(body)\n"
    "http.server.HTTPServer(('', 8787), H).serve_forever()\n"
)


def kubectl(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    return subprocess.run(
        [KUBECTL, "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def with_crds(plane_cluster: Any, request: pytest.FixtureRequest) -> str:
    """The stand-in running the operator (which installs its CRDs), or the real control plane
    with our CRDs applied; once they are served."""
    import kr8s

    cluster = plane_cluster
    if plane_cluster.plane == REAL:
        for crd in sorted(CRDS.glob("*.yaml")):
            applied = kubectl(cluster.kubeconfig, "apply", "--server-side", "-f", str(crd))
            assert applied.returncode == 0, applied.stderr
    else:
        cluster = request.getfixturevalue("k8s_cluster_with_operator")
    api = kr8s.api(kubeconfig=cluster.kubeconfig)
    wait_for(
        lambda: {"daskclusters", "daskworkergroups"} <= {r["name"] for r in api.api_resources()},
        "the Dask resources to be served",
    )
    return str(cluster.kubeconfig)


def test_explain_daskcluster_spec(with_crds: str) -> None:
    done = kubectl(with_crds, "explain", "daskcluster.spec")
    assert done.returncode == 0, done.stderr
    assert "KIND:       DaskCluster" in done.stdout
    assert "GROUP:      kubernetes.dask.org" in done.stdout
    for field in ("scheduler", "worker"):
        assert f"\n  {field}\t" in done.stdout, done.stdout


def test_explain_a_nested_field(with_crds: str) -> None:
    done = kubectl(with_crds, "explain", "daskworkergroup.spec.worker.replicas")
    assert done.returncode == 0, done.stderr
    assert "FIELD: replicas <integer>" in done.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _fetch(port: int, path: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return str(response.read().decode())
    except OSError:
        return None


class PortForward:
    """`kubectl port-forward TARGET LOCAL:REMOTE` running until the block ends; its stderr after."""

    def __init__(self, kubeconfig: str, namespace: str, target: str, remote: int) -> None:
        assert KUBECTL is not None
        self.local = _free_port()
        self.command = [KUBECTL, "--kubeconfig", kubeconfig, "-n", namespace, "port-forward"]
        self.command += [target, f"{self.local}:{remote}"]
        self.remote = remote
        self.errors = ""

    def __enter__(self) -> PortForward:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        if f"Forwarding from 127.0.0.1:{self.local} -> {self.remote}" not in first:
            self.__exit__()
            raise AssertionError(f"kubectl port-forward did not start: {first}{self.errors}")
        return self

    def __exit__(self, *_: object) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        _, self.errors = self.process.communicate(timeout=30)


def test_kubectl_port_forward_a_service(plane_cluster: Any, plane_namespace: str) -> None:
    require_node(plane_cluster)
    kubeconfig, k8s_namespace = plane_cluster.kubeconfig, plane_namespace
    pod = python_pod(
        "dashboard",
        k8s_namespace,
        HTTP_SERVER,
        labels={"app": "dashboard"},
        restart_policy="Always",
        ports=[{"name": "http-dashboard", "containerPort": 8787}],
        readinessProbe={"tcpSocket": {"port": "http-dashboard"}, "periodSeconds": 1},
    )
    created = create_pod(kubeconfig, pod)
    create_service(
        kubeconfig,
        service(
            "dashboard",
            k8s_namespace,
            {"app": "dashboard"},
            [{"name": "http-dashboard", "port": 8787, "targetPort": "http-dashboard"}],
        ),
    )
    wait_for(lambda: is_ready(created), "the dashboard pod to be ready")
    with PortForward(kubeconfig, k8s_namespace, "svc/dashboard", 8787) as forward:
        # Several requests, each a new connection: a stream pair per connection.
        for path in ("/status", "/info/main/workers.html", "/status"):
            assert _fetch(forward.local, path) == f"via kubectl {path}"
    assert "error" not in forward.errors.lower(), forward.errors


def test_kubectl_port_forward_to_a_closed_port_reports_it(
    plane_cluster: Any, plane_namespace: str
) -> None:
    """Nothing listens on the pod port: kubectl is told why on the error stream, as a kubelet
    would tell it, and the local connection is closed instead of hanging."""
    require_node(plane_cluster)
    kubeconfig, k8s_namespace = plane_cluster.kubeconfig, plane_namespace
    created = create_pod(
        kubeconfig,
        python_pod(
            "idle",
            k8s_namespace,
            "import time; time.sleep(600)",
            readinessProbe={"exec": {"command": ["true"]}, "periodSeconds": 1},
        ),
    )
    wait_for(lambda: is_ready(created), "the idle pod to be ready")
    with PortForward(kubeconfig, k8s_namespace, "pod/idle", 9) as forward:
        assert _fetch(forward.local, "/") is None
        # kubectl gives up on the session once the pod side reported an error.
        forward.process.wait(timeout=30)
    assert "error forwarding port 9 to pod" in forward.errors, forward.errors
