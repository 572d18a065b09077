"""In-pod networking: cluster DNS names, Service forwarding to ready pods, namespaces that do not
collide, and LoadBalancer ingress from outside — all set up through the Kubernetes API."""

from __future__ import annotations

import socket

import pytest
from kr8s.objects import Namespace
from kubernetes import client, config
from kubernetes.stream import portforward
from standin_support import (
    api,
    create_pod,
    create_service,
    is_ready,
    load_balancer_ip,
    logs,
    python_pod,
    service,
    wait_for,
    wait_for_phase,
)

# Listens on the wildcard address (the pod IP, in the stand-in) and answers every connection with
# the text given as argv[1], after a "<name>:" prefix taken from the pod's hostname.
ECHO_SERVER = """
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 8786))
srv.listen()
print("listening", srv.getsockname(), flush=True)
while True:
    conn, _ = srv.accept()
    conn.sendall((socket.gethostname() + ":" + sys.argv[1]).encode())
    conn.close()
"""

CLIENT = """
import socket, sys
for name in sys.argv[1:]:
    for attempt in range(100):
        try:
            with socket.create_connection((name, 8786), timeout=5) as conn:
                print(name, "->", conn.recv(100).decode(), flush=True)
            break
        except OSError as exc:
            error = exc
            import time; time.sleep(0.1)
    else:
        print(name, "-> failed", error, flush=True)
"""


def echo_pod(name: str, namespace: str, answer: str, **container) -> dict:
    manifest = python_pod(
        name,
        namespace,
        ECHO_SERVER,
        labels={"app": "echo"},
        restart_policy="Always",
        ports=[{"name": "echo", "containerPort": 8786}],
        readinessProbe={"tcpSocket": {"port": "echo"}, "periodSeconds": 1},
        **container,
    )
    manifest["spec"]["containers"][0]["args"].append(answer)
    return manifest


def echo_service(namespace: str, kind: str = "ClusterIP") -> dict:
    return service(
        "echo", namespace, {"app": "echo"}, [{"port": 8786, "targetPort": "echo"}], kind=kind
    )


@pytest.fixture
def second_namespace(k8s_cluster, k8s_namespace):
    namespace = Namespace(
        {"metadata": {"name": k8s_namespace + "-b"}}, api=api(k8s_cluster.kubeconfig)
    )
    namespace.create()
    yield namespace.name
    namespace.delete()


def test_pod_reaches_a_service_by_dns_names_and_namespaces_do_not_collide(
    k8s_cluster, k8s_namespace, second_namespace
) -> None:
    kubeconfig = k8s_cluster.kubeconfig
    servers = []
    for namespace in (k8s_namespace, second_namespace):
        servers.append(create_pod(kubeconfig, echo_pod("server", namespace, namespace)))
        create_service(kubeconfig, echo_service(namespace))
    for server in servers:
        wait_for(lambda server=server: is_ready(server), f"{server.namespace}/server ready")
    names = [
        "echo",
        f"echo.{k8s_namespace}",
        f"echo.{k8s_namespace}.svc",
        f"echo.{k8s_namespace}.svc.cluster.local",
        f"echo.{second_namespace}",
    ]
    client_manifest = python_pod("client", k8s_namespace, CLIENT)
    client_manifest["spec"]["containers"][0]["args"] += names
    client = create_pod(kubeconfig, client_manifest)
    assert wait_for_phase(client, "Succeeded", "Failed", timeout=60) == "Succeeded"
    assert logs(client).splitlines() == [
        f"echo -> server:{k8s_namespace}",
        f"echo.{k8s_namespace} -> server:{k8s_namespace}",
        f"echo.{k8s_namespace}.svc -> server:{k8s_namespace}",
        f"echo.{k8s_namespace}.svc.cluster.local -> server:{k8s_namespace}",
        f"echo.{second_namespace} -> server:{second_namespace}",
    ]
    # Both servers listen on 8786, each on its own pod IP.
    ips = {s.refresh() or s.raw["status"]["podIP"] for s in servers}
    assert len(ips) == 2


def _ask(address: tuple[str, int]) -> str:
    with socket.create_connection(address, timeout=5) as conn:
        return conn.recv(100).decode()


def test_load_balancer_routes_only_to_ready_pods(k8s_cluster, k8s_namespace) -> None:
    if not k8s_cluster.local:
        pytest.skip("LoadBalancer ingress on a host-reachable address is the stand-in's")
    kubeconfig = k8s_cluster.kubeconfig
    svc = create_service(kubeconfig, echo_service(k8s_namespace, kind="LoadBalancer"))
    ip = wait_for(lambda: load_balancer_ip(svc), "a LoadBalancer ingress address")
    # No endpoint yet: refused (clients retry), like kube-proxy rejecting the connection.
    with pytest.raises(ConnectionRefusedError):
        _ask((ip, 8786))
    ready = create_pod(kubeconfig, echo_pod("ready", k8s_namespace, "a"))
    # Same labels, but its readiness probe checks a port nobody listens on: never ready.
    never = echo_pod("never", k8s_namespace, "b")
    never["spec"]["containers"][0]["readinessProbe"] = {
        "tcpSocket": {"port": 9},
        "periodSeconds": 1,
    }
    never_ready = create_pod(kubeconfig, never)
    wait_for(lambda: is_ready(ready), "the ready pod")
    assert wait_for_phase(never_ready, "Running") == "Running"
    answers = {wait_for(lambda: _try_ask((ip, 8786)), "an answer") for _ in range(8)}
    assert answers == {"ready:a"}
    assert not is_ready(never_ready)


def _try_ask(address: tuple[str, int]) -> str | None:
    try:
        return _ask(address) or None
    except OSError:
        return None


def test_outside_access_through_portforward_and_services_proxy(k8s_cluster, k8s_namespace) -> None:
    kubeconfig = k8s_cluster.kubeconfig
    server = create_pod(kubeconfig, echo_pod("server", k8s_namespace, "forwarded"))
    web = python_pod(
        "web",
        k8s_namespace,
        "import http.server\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = ('path=' + self.path).encode()\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers(); self.wfile.write(body)\n"
        "http.server.HTTPServer(('', 8080), H).serve_forever()\n",
        labels={"app": "web"},
        restart_policy="Always",
        ports=[{"name": "http", "containerPort": 8080}],
        readinessProbe={"tcpSocket": {"port": "http"}, "periodSeconds": 1},
    )
    web_pod = create_pod(kubeconfig, web)
    web_svc = create_service(
        kubeconfig,
        service("web", k8s_namespace, {"app": "web"}, [{"port": 80, "targetPort": "http"}]),
    )
    wait_for(lambda: is_ready(server), "the echo server to be ready")
    # The official client's port-forward hands us the stream itself: no local port to race for.
    api_client = config.new_client_from_config(config_file=kubeconfig)
    with api_client:
        core = client.CoreV1Api(api_client)
        forward = portforward(
            core.connect_get_namespaced_pod_portforward, "server", k8s_namespace, ports="8786"
        )
        stream = forward.socket(8786)
        stream.settimeout(10)
        answer = stream.recv(100).decode()
        stream.close()
        forward.close()
    assert answer == "server:forwarded"
    wait_for(lambda: is_ready(web_pod), "the web server to be ready")
    response = wait_for(lambda: _try_proxy(web_svc), "an answer via services/proxy")
    assert response == "path=/hello?x=1"


def _try_proxy(svc) -> str | None:
    try:
        response = svc.proxy_http_get("/hello?x=1")
    except Exception:  # the proxy answers 503 until an endpoint is ready
        return None
    return response.text if response.status_code == 200 else None
