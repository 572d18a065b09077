"""Our kubelet as a node of the real control plane (`LocalKubernetes(control_plane="real")`).

The real scheduler binds pods to our Node, our kubelet runs them with 10.244 pod IPs inside the
cluster's network namespace, and `kubectl logs` / `kubectl port-forward` / kr8s' port-forward go
through the real API server to the kubelet API. Skips saying why without root or the binaries.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from controlplane_support import KUBECTL_ENV, built_binaries, run_kubectl

from dask_kubernetes.local import LocalKubernetes
from dask_kubernetes.local.kubelet.process_scan import processes_of
from dask_kubernetes.local.network.netns import (
    HOST_ADDRESS,
    NODE_ADDRESS,
    POD_CIDR,
    namespace_exists,
)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
T = TypeVar("T")
DASK = str(Path(sys.executable).with_name("dask"))
# The chart's ServiceAccount (release `dko` in `dask-operator`), as the API server names it.
OPERATOR_SERVICE_ACCOUNT = "system:serviceaccount:dask-operator:dko-dask-kubernetes-operator"

ECHO = textwrap.dedent(
    """
    import socket, threading
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", 8080))
    listener.listen()
    print("echo listening on", listener.getsockname(), flush=True)
    def serve(conn):
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data.upper())
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
    """
)


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the real-plane node runs in a network namespace: needs root")


@pytest.fixture(scope="module")
def bin_dir() -> Path:
    _require_root()
    return built_binaries().directory / "bin"


@pytest.fixture(scope="module")
def k8s(bin_dir: Path) -> Iterator[LocalKubernetes]:
    started = time.monotonic()
    with LocalKubernetes(control_plane="real", binaries=bin_dir) as cluster:
        print(f"real plane with node ready in {time.monotonic() - started:.1f}s")
        yield cluster


def kubectl(
    k8s: LocalKubernetes, bin_dir: Path, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run_kubectl(bin_dir / "kubectl", k8s.kubeconfig, *args, stdin=stdin, check=check)


def get(k8s: LocalKubernetes, bin_dir: Path, *args: str) -> dict[str, Any]:
    return dict(json.loads(kubectl(k8s, bin_dir, "get", *args, "-o", "json").stdout))


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def inside(k8s: LocalKubernetes, code: str, timeout: float = 60) -> Any:
    """Run Python `code` in the cluster's network namespace; it prints one JSON value."""
    assert k8s.real is not None and k8s.real.namespace is not None
    result = subprocess.run(
        [*k8s.real.namespace.exec_prefix(), sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def pod(name: str, code: str, **spec: Any) -> str:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "python",
                    "command": [sys.executable, "-c", code],
                    "ports": [{"name": "echo", "containerPort": 8080}],
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                }
            ],
            "terminationGracePeriodSeconds": 1,
            **spec,
        },
    }
    return json.dumps(body)


@pytest.fixture(scope="module")
def echo(k8s: LocalKubernetes, bin_dir: Path) -> dict[str, Any]:
    kubectl(k8s, bin_dir, "apply", "-f", "-", stdin=pod("echo", ECHO))
    kubectl(k8s, bin_dir, "wait", "--for=condition=Ready", "pod/echo", "--timeout=90s")
    return get(k8s, bin_dir, "pod", "echo")


def test_node_is_ready_with_the_real_version_and_renews_its_lease(
    k8s: LocalKubernetes, bin_dir: Path
) -> None:
    node = get(k8s, bin_dir, "node", "local")
    status = node["status"]
    ready = {c["type"]: c["status"] for c in status["conditions"]}
    assert ready["Ready"] == "True"
    assert status["nodeInfo"]["kubeletVersion"] == "v1.37.2"
    assert {"type": "InternalIP", "address": NODE_ADDRESS} in status["addresses"]
    # What the host can reach: KubeCluster prefers ExternalIP for node ports.
    assert {"type": "ExternalIP", "address": HOST_ADDRESS} in status["addresses"]
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
    assert int(status["capacity"]["pods"]) > 0 and status["allocatable"]["cpu"]
    # The node IPAM controller (real controller manager) gave the node its pod range.
    pod_range = ipaddress.IPv4Network(node["spec"]["podCIDR"])
    assert pod_range.subnet_of(ipaddress.IPv4Network(POD_CIDR))
    first = get(k8s, bin_dir, "lease", "-n", "kube-node-lease", "local")["spec"]
    assert first["holderIdentity"] == "local"

    def renewed() -> bool:
        spec = get(k8s, bin_dir, "lease", "-n", "kube-node-lease", "local")["spec"]
        return bool(spec["renewTime"] != first["renewTime"])

    wait_for(renewed, "the node's Lease to be renewed", timeout=30)


def test_the_real_scheduler_binds_a_kubectl_pod_that_runs_with_a_pod_ip(
    k8s: LocalKubernetes, bin_dir: Path, echo: dict[str, Any]
) -> None:
    assert echo["spec"]["nodeName"] == "local"
    assert ipaddress.ip_address(echo["status"]["podIP"]) in ipaddress.ip_network(POD_CIDR)
    assert echo["status"]["hostIP"] == NODE_ADDRESS
    events = get(k8s, bin_dir, "events", "--field-selector", "involvedObject.name=echo")
    scheduled = [e for e in events["items"] if e["reason"] == "Scheduled"]
    assert scheduled, events
    assert scheduled[0].get("reportingComponent") == "default-scheduler"
    logs = kubectl(k8s, bin_dir, "logs", "echo").stdout
    assert "echo listening on" in logs and echo["status"]["podIP"] in logs
    assert kubectl(k8s, bin_dir, "logs", "echo", "--tail=1").stdout.count("\n") == 1
    assert kubectl(k8s, bin_dir, "logs", "echo", "--limit-bytes=4").stdout == "echo"


def test_kubectl_port_forward_reaches_the_pod_over_spdy(
    k8s: LocalKubernetes, bin_dir: Path, echo: dict[str, Any]
) -> None:
    forward = subprocess.Popen(
        [
            str(bin_dir / "kubectl"),
            "--kubeconfig",
            k8s.kubeconfig,
            "port-forward",
            "pod/echo",
            ":8080",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=KUBECTL_ENV,
    )
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        failed = forward.poll() is not None and forward.stderr is not None
        assert match, (line, forward.stderr.read() if failed and forward.stderr else "")
        reply = asyncio.run(_echo_roundtrip(int(match.group(1)), b"through kubectl\n"))
        assert reply == b"THROUGH KUBECTL\n"
    finally:
        forward.terminate()
        forward.wait(10)


def test_kr8s_port_forward_reaches_the_pod_over_websocket(
    k8s: LocalKubernetes, echo: dict[str, Any]
) -> None:
    async def forward() -> bytes:
        import kr8s.asyncio
        from kr8s.asyncio.objects import Pod

        api = await kr8s.asyncio.api(kubeconfig=k8s.kubeconfig)
        found = await Pod.get("echo", namespace="default", api=api)
        async with found.portforward(remote_port=8080, local_port=0) as local_port:
            return await _echo_roundtrip(local_port, b"through kr8s\n")

    assert asyncio.run(forward()) == b"THROUGH KR8S\n"


async def _echo_roundtrip(port: int, message: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(message)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(message)), 20)
    finally:
        writer.close()


def test_a_service_cluster_ip_reaches_the_pod_via_real_endpointslices(
    k8s: LocalKubernetes, bin_dir: Path, echo: dict[str, Any]
) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "echo", "namespace": "default"},
        "spec": {"selector": {"app": "echo"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    kubectl(k8s, bin_dir, "apply", "-f", "-", stdin=json.dumps(service))
    cluster_ip = get(k8s, bin_dir, "service", "echo")["spec"]["clusterIP"]
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network("10.96.0.0/12")

    def endpoint_slice() -> dict[str, Any] | None:
        items = get(k8s, bin_dir, "endpointslices", "-l", "kubernetes.io/service-name=echo")[
            "items"
        ]
        return items[0] if items and items[0].get("endpoints") else None

    found = wait_for(endpoint_slice, "the EndpointSlice of the echo Service")
    assert found["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == (
        "endpointslice-controller.k8s.io"
    )
    assert found["endpoints"][0]["addresses"] == [echo["status"]["podIP"]]
    reply = inside(
        k8s,
        f"""
        import json, socket, time
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = socket.create_connection(("{cluster_ip}", 80), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        conn.sendall(b"via the service\\n")
        data = b""
        while len(data) < 16:
            data += conn.recv(100)
        print(json.dumps(data.decode()))
        """,
    )
    assert reply == "VIA THE SERVICE\n"


def _echo_or_none(port: int, message: bytes) -> bytes | None:
    try:
        return asyncio.run(_echo_roundtrip(port, message))
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
        return None


def _refused(port: int) -> bool:
    try:
        with socket.create_connection((HOST_ADDRESS, port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


def test_a_node_port_listens_on_the_hosts_loopback_until_the_service_goes(
    k8s: LocalKubernetes, bin_dir: Path, echo: dict[str, Any]
) -> None:
    """From the host namespace (this process), 127.0.0.1:<nodePort> reaches the pod."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "echo-np", "namespace": "default"},
        "spec": {
            "type": "NodePort",
            "selector": {"app": "echo"},
            "ports": [{"port": 80, "targetPort": 8080}],
        },
    }
    kubectl(k8s, bin_dir, "apply", "-f", "-", stdin=json.dumps(service))
    node_port = int(get(k8s, bin_dir, "service", "echo-np")["spec"]["ports"][0]["nodePort"])
    message = b"via the node port\n"
    reply = wait_for(lambda: _echo_or_none(node_port, message), "the node port to answer")
    assert reply == message.upper()
    assert k8s.real is not None and k8s.real.proxy is not None
    assert (HOST_ADDRESS, node_port) in k8s.real.proxy.forwarders
    kubectl(k8s, bin_dir, "delete", "service", "echo-np")
    wait_for(lambda: _refused(node_port), "the node port to close with its Service")
    assert (HOST_ADDRESS, node_port) not in k8s.real.proxy.forwarders


def test_a_pod_bound_to_another_node_is_not_run(
    k8s: LocalKubernetes, bin_dir: Path, echo: dict[str, Any]
) -> None:
    kubectl(k8s, bin_dir, "apply", "-f", "-", stdin=pod("elsewhere", ECHO, nodeName="other"))
    kubectl(k8s, bin_dir, "apply", "-f", "-", stdin=pod("here", ECHO.replace("8080", "8081")))
    # Readiness on 8080 fails for `here` (it listens on 8081); Running is enough: the kubelet
    # has handled both pods' events by the time it reports the later one.
    wait_for(
        lambda: get(k8s, bin_dir, "pod", "here")["status"].get("phase") == "Running",
        "the local pod to run",
    )
    elsewhere = get(k8s, bin_dir, "pod", "elsewhere")
    assert elsewhere["spec"]["nodeName"] == "other"
    assert "podIP" not in elsewhere.get("status", {})
    assert k8s.real is not None and k8s.real.kubelet is not None
    assert "default/elsewhere" not in k8s.real.kubelet.runners
    kubectl(k8s, bin_dir, "delete", "pod", "here", "elsewhere", "--wait=false")


def test_the_kubelet_api_serves_only_the_api_servers_kubelet_client(
    k8s: LocalKubernetes, echo: dict[str, Any]
) -> None:
    """The attacker is a process inside the namespace (e.g. a pod) that can reach :10250."""
    pki = k8s.state_dir / "plane" / "pki"
    answers = inside(
        k8s,
        f"""
        import json, ssl, urllib.request, urllib.error
        url = "https://{NODE_ADDRESS}:10250/containerLogs/default/echo/main"
        def call(cert):
            context = ssl.create_default_context(cafile="{pki / "ca.crt"}")
            if cert:
                context.load_cert_chain("{pki}/" + cert + ".crt", "{pki}/" + cert + ".key")
            try:
                with urllib.request.urlopen(url, context=context, timeout=10) as answer:
                    return answer.status
            except urllib.error.HTTPError as exc:
                return exc.code
            except (ssl.SSLError, OSError) as exc:
                return "tls: " + type(exc).__name__
        print(json.dumps({{c or "none": call(c) for c in
                          ["", "node-client", "local-admin", "apiserver-kubelet-client"]}}))
        """,
    )
    assert str(answers["none"]).startswith("tls"), answers
    assert answers["node-client"] == 403
    assert answers["local-admin"] == 403
    assert answers["apiserver-kubelet-client"] == 200


def test_the_namespace_has_only_local_routes_and_the_host_does_not_route_pod_ips(
    k8s: LocalKubernetes, echo: dict[str, Any]
) -> None:
    """No packet can leave: nothing but `lo` inside, and the host's kernel does not treat pod
    IPs as local (asked with `ip route get`, which sends nothing: a connect from the host would
    go to its default gateway)."""
    assert k8s.real is not None and k8s.real.namespace is not None
    name = k8s.real.namespace.name
    links = subprocess.run(
        ["ip", "-n", name, "-o", "link"], capture_output=True, text=True, check=True
    ).stdout
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
    main_table = subprocess.run(
        ["ip", "-n", name, "route", "show", "table", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert main_table.strip() == ""
    local = subprocess.run(
        ["ip", "-n", name, "route", "show", "table", "local"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for cidr in (POD_CIDR, "10.96.0.0/12", NODE_ADDRESS):
        assert f"local {cidr} dev lo" in local
    host_view = subprocess.run(
        ["ip", "route", "get", echo["status"]["podIP"]], capture_output=True, text=True, check=True
    ).stdout
    assert not host_view.startswith("local")


def test_stop_ends_every_process_and_removes_the_namespace(bin_dir: Path) -> None:
    """On the caller's own loop (`async with`; the module's cluster uses `with`)."""

    async def run() -> tuple[str, Path, int, list[int]]:
        async with LocalKubernetes(control_plane="real", binaries=bin_dir) as cluster:
            assert cluster.real is not None and cluster.real.namespace is not None
            assert cluster.real.kubelet is not None and cluster.real.node_loop is not None
            # The kubelet's client lives on the namespace's loop: ask it there.
            kubelet_client = cluster.real.kubelet.client
            node = await cluster.real.node_loop.run(kubelet_client.get("/api/v1/nodes/local"))
            assert node is not None and node["spec"]["podCIDR"]
            name = cluster.real.namespace.name
            assert namespace_exists(name)
            running = processes_of(cluster.state_dir)
        return name, cluster.state_dir, len(running), running

    name, state_dir, count, running = asyncio.run(run())
    assert count >= 4, running  # etcd, apiserver, controller manager, scheduler
    assert not namespace_exists(name)
    assert processes_of(state_dir) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "crash"])
def test_the_cli_prints_ready_and_leaves_nothing_after_ctrl_c_or_a_crash(
    bin_dir: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    """Ctrl-C: the CLI stops everything itself. SIGKILL: the watchdog cleans up after it."""
    before = _our_namespaces()
    state_dir = tmp_path / "state"
    cli = subprocess.Popen(
        [DASK, "kubernetes", "local", "--control-plane", "real", "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert cli.stdout is not None
        lines: list[str] = []
        while not any(line.startswith("export KUBECONFIG=") for line in lines):
            line = cli.stdout.readline()
            assert line, (lines, cli.stderr.read() if cli.stderr else "")
            lines.append(line)
        assert lines[0].startswith("dask-kubernetes local: ready at https://127.0.0.1:"), lines
        kubeconfig = lines[-1].strip().split("=", 1)[1]
        nodes = subprocess.run(
            [str(bin_dir / "kubectl"), "--kubeconfig", kubeconfig, "get", "nodes"],
            capture_output=True,
            text=True,
            env=KUBECTL_ENV,
            check=True,
        ).stdout
        assert re.search(r"local\s+Ready\s+.*v1\.37\.2", nodes), nodes
        # The namespace our processes run in, not whatever appeared meanwhile: other stand-ins
        # (other test runs on this machine) create and delete theirs at the same time.
        created = _namespaces_of(state_dir.resolve())
        assert created and created <= _our_namespaces() - before
    finally:
        cli.send_signal(signum)
        code = cli.wait(60)
    if signum == signal.SIGINT:
        assert code == 0, cli.stderr.read() if cli.stderr else ""
        assert not (_our_namespaces() & created)
        assert processes_of(state_dir.resolve()) == []
    wait_for(lambda: not (_our_namespaces() & created), "the namespace to be removed")
    wait_for(lambda: processes_of(state_dir.resolve()) == [], "no process of ours left")


def test_without_root_the_cli_says_so_in_one_line_and_exits_2() -> None:
    result = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            DASK,
            "kubernetes",
            "local",
            "--control-plane",
            "real",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "root" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def _namespaces_of(state_dir: Path) -> set[str]:
    """The network namespaces the stand-in's processes (found by state-dir marker) run in."""
    names: set[str] = set()
    for pid in processes_of(state_dir):
        identified = subprocess.run(
            ["ip", "netns", "identify", str(pid)], capture_output=True, text=True, check=False
        )
        names |= set(identified.stdout.split())
    return names


def _our_namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in listed.splitlines() if line.startswith("dk-")}


def test_kubecluster_computes_on_the_real_plane_with_the_operator_under_the_charts_rbac(
    bin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator (host process, services/proxy to schedulers) runs as the chart's
    ServiceAccount, bound to the chart's rendered RBAC only, and KubeCluster (port-forward through
    the real API server to our kubelet) computes on the real plane."""
    from distributed import Client

    from dask_kubernetes.operator import KubeCluster

    started = time.monotonic()
    with LocalKubernetes(control_plane="real", operator=True, binaries=bin_dir) as k8s:
        print(f"real plane with the operator ready in {time.monotonic() - started:.1f}s")
        operator_kubeconfig = k8s.state_dir / "operator-kubeconfig"
        assert operator_kubeconfig.stat().st_mode & 0o777 == 0o600
        [user] = yaml.safe_load(operator_kubeconfig.read_text())["users"]
        assert set(user["user"]) == {"token"}  # no client certificate: no system:masters

        def as_operator(*args: str) -> subprocess.CompletedProcess[str]:
            argv = [str(bin_dir / "kubectl"), "--kubeconfig", str(operator_kubeconfig), *args]
            return subprocess.run(argv, capture_output=True, text=True, env=KUBECTL_ENV)

        whoami = json.loads(as_operator("auth", "whoami", "-o", "json").stdout)
        assert whoami["status"]["userInfo"]["username"] == OPERATOR_SERVICE_ACCOUNT
        refused = as_operator("get", "secrets", "--all-namespaces")
        assert refused.returncode == 1 and "Forbidden" in refused.stderr, refused
        assert as_operator("get", "daskclusters", "--all-namespaces").returncode == 0
        monkeypatch.setenv("KUBECONFIG", k8s.kubeconfig)
        with (
            KubeCluster(name="real", n_workers=1, image="ghcr.io/dask/dask:latest") as cluster,
            Client(cluster) as client,  # type: ignore[no-untyped-call]
        ):
            client.wait_for_workers(1, timeout=120)
            assert client.submit(lambda x: x + 1, 41).result(timeout=60) == 42
            workers = client.scheduler_info()["workers"]
            assert all(
                ipaddress.ip_address(w["host"]) in ipaddress.ip_network(POD_CIDR)
                for w in workers.values()
            ), workers
            logs = cluster.get_logs()  # pods/log through the real API server to our kubelet
            scheduler_logs = [text for name, text in logs.items() if "scheduler" in name]
            assert scheduler_logs and "Scheduler at" in scheduler_logs[0], logs
