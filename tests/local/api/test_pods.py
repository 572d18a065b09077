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
from control_planes import Endpoint
from kubernetes import client
from kubernetes.client.rest import ApiException
from node_support import BY_HAND, ECHO, HTTP, Node, bind_and_run


def pod_body(name: str, port: int = 8786, labels: dict | None = None) -> dict:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "schedulerName": BY_HAND,
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


def node_pod(
    node: Node,
    namespace: str,
    name: str,
    port: int = 8786,
    labels: dict | None = None,
    program: str | None = None,
) -> dict:
    """`pod_body` whose container the real node can run: `program` serving `port` (Ready once
    it answers there, and `node.make_ready` was called), else one running until `node.finish`."""
    body = pod_body(name, port, labels)
    main = body["spec"]["containers"][0]
    if program is None:
        main.update(node.container(namespace, name))
    else:
        ready = str(node.marker(namespace, name, "ready"))
        main.update(node.container(namespace, name, "main", program, str(port), ready))
        ready_when = {"httpGet": {"path": "/ready", "port": port}}
        if program != HTTP:
            ready_when = {"tcpSocket": {"port": port}}  # listening is enough
        main["readinessProbe"] = {**ready_when, "periodSeconds": 1}
    body["spec"]["restartPolicy"] = "Never"
    body["spec"]["schedulerName"] = "default-scheduler"  # the node runs it
    return body


def test_pod_lifecycle_binding_and_graceful_delete(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    created = core.create_namespaced_pod(namespace, pod_body("p"))
    assert created.status.phase == "Pending"
    assert created.spec.node_name is None
    bind_and_run(core, namespace, "p")
    pod = core.read_namespaced_pod("p", namespace)
    assert pod.spec.node_name == BY_HAND
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


def test_pod_logs_from_files(k8s: client.ApiClient, node: Node, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    gated = pod_body("gated")
    gated["spec"]["schedulingGates"] = [{"name": "dask.org/hold"}]
    core.create_namespaced_pod(namespace, gated)
    # Not bound to a node: no kubelet to ask, so 204 No Content (kube-apiserver's LogLocation).
    empty = core.read_namespaced_pod_log("gated", namespace, _preload_content=False)
    assert (empty.status, empty.data) == (204, b"")
    core.create_namespaced_pod(namespace, node_pod(node, namespace, "logger"))
    node.start(core, namespace, "logger")
    node.write_log(namespace, "logger", "main", "one\ntwo\nthree\n")
    node.write_log(namespace, "logger", "main", "before restart\n", previous=True)
    assert core.read_namespaced_pod_log("logger", namespace) == "one\ntwo\nthree\n"
    assert core.read_namespaced_pod_log("logger", namespace, tail_lines=1) == "three\n"
    assert core.read_namespaced_pod_log("logger", namespace, limit_bytes=3) == "one"
    assert core.read_namespaced_pod_log("logger", namespace, previous=True) == "before restart\n"
    with pytest.raises(ApiException) as wrong:
        core.read_namespaced_pod_log("logger", namespace, container="nope")
    assert wrong.value.status == 400


def test_follow_logs_until_the_pod_finishes(
    k8s: client.ApiClient, node: Node, namespace: str
) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, node_pod(node, namespace, "follow"))
    node.start(core, namespace, "follow")
    node.write_log(namespace, "follow", "main", "start\n")
    response = core.read_namespaced_pod_log(
        "follow", namespace, follow=True, _preload_content=False
    )
    assert response.read(6) == b"start\n"
    node.write_log(namespace, "follow", "main", "more\n", append=True)
    assert response.read(5) == b"more\n"
    node.finish(core, namespace, "follow")
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


@pytest.mark.asyncio
async def test_kr8s_portforward(
    kubeconfig: Path, k8s: client.ApiClient, node: Node, namespace: str, echo_port: int
) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(
        namespace, node_pod(node, namespace, "echo", echo_port, program=ECHO)
    )
    node.start(core, namespace, "echo")
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


def test_service_and_pod_proxy_reach_ready_pods_only(
    k8s: client.ApiClient, node: Node, endpoint: Endpoint, namespace: str, http_port: int
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
    web = node_pod(node, namespace, "web", http_port, {"app": "web"}, program=HTTP)
    core.create_namespaced_pod(namespace, web)
    node.start(core, namespace, "web", ready=False)
    base = f"/api/v1/namespaces/{namespace}"
    with pytest.raises(urllib.error.HTTPError) as unready:
        endpoint.open(f"{base}/services/dash:http/proxy/status", timeout=10)
    assert unready.value.code == 503
    node.make_ready(core, namespace, "web")
    with endpoint.open(f"{base}/services/dash:http/proxy/status?x=1", timeout=10) as r:
        assert json.load(r) == {"path": "/status?x=1", "authorization": None}
    with endpoint.open(f"{base}/pods/web:{http_port}/proxy/info", timeout=10) as r:
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


PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1}
PROBE_DEFAULTS |= {"failureThreshold": 3}


def test_probes_get_kube_apiserver_defaults(k8s: client.ApiClient, namespace: str) -> None:
    """A probe's timeout, period and thresholds are filled in when left out, in a Pod and in a
    Deployment's template, as kube-apiserver stores them (issue 22: the stand-in left them out)."""
    probes = {
        "readinessProbe": {"httpGet": {"port": 8787}, "periodSeconds": 2},
        "livenessProbe": {"tcpSocket": {"port": 8786}},
    }
    body = pod_body("probed")
    body["spec"]["containers"][0].update(probes)
    pod = client.CoreV1Api(k8s).create_namespaced_pod(namespace, body)
    [container] = pod.spec.containers
    ready, live = container.readiness_probe.to_dict(), container.liveness_probe.to_dict()
    assert {k: ready[_snake(k)] for k in PROBE_DEFAULTS} == PROBE_DEFAULTS | {"periodSeconds": 2}
    assert {k: live[_snake(k)] for k in PROBE_DEFAULTS} == PROBE_DEFAULTS
    assert (ready["http_get"]["path"], ready["http_get"]["scheme"]) == ("/", "HTTP")
    template = {"metadata": {"labels": {"app": "probed"}}, "spec": body["spec"]}
    deployment = {
        "metadata": {"name": "probed"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "probed"}},
            "template": template,
        },
    }
    stored = client.AppsV1Api(k8s).create_namespaced_deployment(namespace, deployment)
    live = stored.spec.template.spec.containers[0].liveness_probe.to_dict()
    assert {k: live[_snake(k)] for k in PROBE_DEFAULTS} == PROBE_DEFAULTS


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
