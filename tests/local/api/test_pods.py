"""Pod semantics the kubelet relies on: Pending on create, binding, graceful deletion, status
subresource, logs from files, portforward and proxy to the pod's address."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import kr8s.asyncio
import pytest
from api_support import open_api
from kubernetes import client
from kubernetes.client.rest import ApiException

from dask_kubernetes.local.apiserver import APIServer

NEEDS_NODE = pytest.mark.usefixtures("needs_node")


def pod_body(name: str, port: int = 8786, labels: dict | None = None) -> dict:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "terminationGracePeriodSeconds": 5,
            "containers": [
                {
                    "name": "main",
                    "image": "ghcr.io/dask/dask",
                    "ports": [{"name": "comm", "containerPort": port}],
                }
            ],
        },
    }


def bind_and_run(core: client.CoreV1Api, namespace: str, name: str, ready: bool = True) -> None:
    """Do what the kubelet does: bind, then report Running with a loopback pod IP."""
    core.create_namespaced_pod_binding(
        name,
        namespace,
        {"metadata": {"name": name}, "target": {"kind": "Node", "name": "local"}},
        _preload_content=False,
    )
    condition = "True" if ready else "False"
    core.patch_namespaced_pod_status(
        name,
        namespace,
        {
            "status": {
                "phase": "Running",
                "podIP": "127.0.0.1",
                "podIPs": [{"ip": "127.0.0.1"}],
                "conditions": [{"type": "Ready", "status": condition}],
            }
        },
    )


def test_pod_lifecycle_binding_and_graceful_delete(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    created = core.create_namespaced_pod(namespace, pod_body("p"))
    assert created.status.phase == "Pending"
    assert created.spec.node_name is None
    bind_and_run(core, namespace, "p")
    pod = core.read_namespaced_pod("p", namespace)
    assert pod.spec.node_name == "local"
    assert pod.status.phase == "Running"
    assert {c.type for c in pod.status.conditions} == {"PodScheduled", "Ready"}
    with pytest.raises(ApiException) as twice:
        core.create_namespaced_pod_binding(
            "p", namespace, {"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "x"}}
        )
    assert twice.value.status == 409
    core.delete_namespaced_pod("p", namespace)
    terminating = core.read_namespaced_pod("p", namespace)
    assert terminating.metadata.deletion_timestamp is not None
    assert terminating.metadata.deletion_grace_period_seconds == 5
    core.patch_namespaced_pod_status("p", namespace, {"status": {"phase": "Running"}})
    assert core.read_namespaced_pod("p", namespace)
    core.delete_namespaced_pod("p", namespace, grace_period_seconds=0)
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_pod("p", namespace)
    assert gone.value.status == 404


def test_unbound_pods_delete_at_once(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, pod_body("u"))
    core.delete_namespaced_pod("u", namespace)
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_pod("u", namespace)
    assert gone.value.status == 404


@NEEDS_NODE
def test_pod_logs_from_files(k8s: client.ApiClient, server: APIServer, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, pod_body("logger"))
    with pytest.raises(ApiException) as waiting:
        core.read_namespaced_pod_log("logger", namespace)
    assert waiting.value.status == 400
    directory = server.state_dir / "logs" / namespace / "logger"
    directory.mkdir(parents=True)
    (directory / "main.log").write_text("one\ntwo\nthree\n")
    (directory / "main.previous.log").write_text("before restart\n")
    assert core.read_namespaced_pod_log("logger", namespace) == "one\ntwo\nthree\n"
    assert core.read_namespaced_pod_log("logger", namespace, tail_lines=1) == "three\n"
    assert core.read_namespaced_pod_log("logger", namespace, limit_bytes=3) == "one"
    assert core.read_namespaced_pod_log("logger", namespace, previous=True) == "before restart\n"
    with pytest.raises(ApiException) as wrong:
        core.read_namespaced_pod_log("logger", namespace, container="nope")
    assert wrong.value.status == 400


@NEEDS_NODE
def test_follow_logs_until_the_pod_finishes(
    k8s: client.ApiClient, server: APIServer, namespace: str
) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, pod_body("follow"))
    bind_and_run(core, namespace, "follow")
    log_file = server.state_dir / "logs" / namespace / "follow" / "main.log"
    log_file.parent.mkdir(parents=True)
    log_file.write_text("start\n")
    response = core.read_namespaced_pod_log(
        "follow", namespace, follow=True, _preload_content=False
    )
    assert response.read(6) == b"start\n"
    with log_file.open("a") as handle:
        handle.write("more\n")
    assert response.read(5) == b"more\n"
    core.patch_namespaced_pod_status("follow", namespace, {"status": {"phase": "Succeeded"}})
    assert response.read() == b""


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A real TCP echo server on 127.0.0.1 standing in for a pod process."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data.upper())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


@NEEDS_NODE
@pytest.mark.asyncio
async def test_kr8s_portforward(
    kubeconfig: Path, k8s: client.ApiClient, namespace: str, echo_port: int
) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, pod_body("echo", echo_port))
    bind_and_run(core, namespace, "echo")
    api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
    from kr8s.asyncio.objects import Pod

    pod = await Pod.get("echo", namespace=namespace, api=api)
    async with pod.portforward(remote_port=echo_port, local_port=0) as local_port:
        import asyncio

        reader, writer = await asyncio.open_connection("127.0.0.1", local_port)
        writer.write(b"hello dask\n")
        await writer.drain()
        reply = await asyncio.wait_for(reader.readexactly(11), 10)
        writer.close()
        await writer.wait_closed()
    assert reply == b"HELLO DASK\n"


@pytest.fixture
def http_port() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            # Echo the credentials too: the API server must not pass the caller's token on.
            auth = self.headers.get("Authorization")
            body = json.dumps({"path": self.path, "authorization": auth}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@NEEDS_NODE
def test_service_and_pod_proxy_reach_ready_pods_only(
    k8s: client.ApiClient, server: APIServer, namespace: str, http_port: int
) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "dash"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": "comm"}],
            },
        },
    )
    core.create_namespaced_pod(namespace, pod_body("web", http_port, {"app": "web"}))
    bind_and_run(core, namespace, "web", ready=False)
    base = f"{server.url}/api/v1/namespaces/{namespace}"
    with pytest.raises(urllib.error.HTTPError) as unready:
        open_api(server, f"{base}/services/dash:http/proxy/status", timeout=10)
    assert unready.value.code == 503
    core.patch_namespaced_pod_status(
        "web", namespace, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    )
    with open_api(server, f"{base}/services/dash:http/proxy/status?x=1", timeout=10) as r:
        assert json.load(r) == {"path": "/status?x=1", "authorization": None}
    with open_api(server, f"{base}/pods/web:{http_port}/proxy/info", timeout=10) as r:
        assert json.load(r) == {"path": "/info", "authorization": None}


def test_pod_status_patch_does_not_touch_spec(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, pod_body("s"))
    before = time.monotonic()
    patched = core.patch_namespaced_pod_status(
        "s", namespace, {"spec": {"nodeName": "sneaky"}, "status": {"phase": "Running"}}
    )
    assert patched.spec.node_name is None
    assert patched.status.phase == "Running"
    assert time.monotonic() - before < 5
