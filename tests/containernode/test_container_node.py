"""The real kubelet with containerd as the real plane's node (`--node containers`): what users'
pods get that the process node could not give — images, per-pod network namespaces, cgroup memory
limits, volumes, securityContext enforced by runc, cluster DNS for any program, kube-proxy.

One cluster for the module (plane + node up in ~15 s); each test works in a namespace of its own.
Skips, saying why, without root, the node binaries or the images.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from containernode_support import (
    BUSYBOX,
    Kubectl,
    eventually,
    node_binaries,
    node_images,
    pod,
    require_root,
)
from control_planes import built_binaries

from dask_kubernetes.local import LocalKubernetes
from dask_kubernetes.local.containernode.layout import CLUSTER_DNS
from dask_kubernetes.local.network.netns import NODE_ADDRESS, POD_CIDR

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def k8s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKubernetes]:
    require_root()
    plane = built_binaries().directory / "bin"
    binaries = node_binaries()
    images = node_images(tmp_path_factory.mktemp("images"))
    started = time.monotonic()
    with LocalKubernetes(
        control_plane="real",
        binaries=plane,
        node="containers",
        node_binaries=binaries.bin,
        images=images,
    ) as cluster:
        assert cluster.real is not None
        print(
            f"plane + container node ready in {time.monotonic() - started:.1f}s:",
            cluster.real.start_seconds,
        )
        yield cluster


@pytest.fixture(scope="module")
def kubectl(k8s: LocalKubernetes) -> Kubectl:
    assert k8s.real is not None and k8s.real.plane is not None
    return Kubectl(k8s.real.plane.binaries / "kubectl", k8s.kubeconfig)


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"cn-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false")


def test_node_registers_ready_with_containerd(kubectl: Kubectl) -> None:
    node = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    assert len(node) == 1
    status = node[0]["status"]
    ready = {c["type"]: c["status"] for c in status["conditions"]}
    assert ready["Ready"] == "True", status["conditions"]
    assert status["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://2.")
    assert status["nodeInfo"]["kubeletVersion"] == "v1.37.2"
    assert {"type": "InternalIP", "address": NODE_ADDRESS} in status["addresses"]
    # The real controller manager gave it a podCIDR out of the plane's cluster CIDR.
    pod_cidr = ipaddress.IPv4Network(node[0]["spec"]["podCIDR"])
    assert pod_cidr.subnet_of(ipaddress.IPv4Network(POD_CIDR))


def test_pod_from_image_runs_with_exec_and_logs(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(pod("hello", namespace, ["sh", "-c", "echo hello-from-busybox; sleep 3600"]))
    kubectl.wait_ready("hello", namespace)
    assert "hello-from-busybox" in kubectl("logs", "hello", "-n", namespace)
    # Its own root filesystem (the image's, not the host's) and its own network namespace.
    listing = kubectl("exec", "hello", "-n", namespace, "--", "ls", "/")
    assert "home" not in listing.split() and "bin" in listing.split()
    address = kubectl.get("pod", "hello", namespace)["status"]["podIP"]
    interfaces = kubectl("exec", "hello", "-n", namespace, "--", "ip", "-4", "addr")
    assert f"inet {address}/" in interfaces and NODE_ADDRESS not in interfaces
    assert ipaddress.ip_address(address) in ipaddress.ip_network(POD_CIDR)
    # stdin through exec (the SPDY/websocket stream both ways).
    echoed = kubectl.run("exec", "-i", "hello", "-n", namespace, "--", "cat", stdin="round trip")
    assert echoed.stdout == "round trip", echoed.stderr


def test_over_its_memory_limit_a_container_is_oom_killed(kubectl: Kubectl, namespace: str) -> None:
    # `tail /dev/zero` keeps one ever-growing line in memory: past 32Mi the cgroup's OOM killer
    # ends it, and the kubelet reports why.
    hog = pod(
        "hog",
        namespace,
        ["tail", "/dev/zero"],
        restartPolicy="Never",
        container={"resources": {"limits": {"memory": "32Mi"}, "requests": {"memory": "32Mi"}}},
    )
    kubectl.apply(hog)

    def terminated() -> dict[str, object] | None:
        statuses = kubectl.get("pod", "hog", namespace)["status"].get("containerStatuses", [])
        state = statuses[0]["state"] if statuses else {}
        return state.get("terminated")

    state = eventually(terminated, what="terminated hog")
    assert state["reason"] == "OOMKilled", state
    assert state["exitCode"] == 137


def test_secret_configmap_emptydir_and_projected_token_are_mounted(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s", "namespace": namespace},
            "data": {"password": base64.b64encode(b"hunter2").decode()},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": namespace},
            "data": {"setting": "on"},
        },
    )
    spec = pod(
        "vols",
        namespace,
        ["sh", "-c", "echo scratch > /scratch/f; sleep 3600"],
        container={
            "volumeMounts": [
                {"name": "secret", "mountPath": "/secret", "readOnly": True},
                {"name": "config", "mountPath": "/config"},
                {"name": "scratch", "mountPath": "/scratch"},
                {"name": "token", "mountPath": "/token"},
            ]
        },
        volumes=[
            {"name": "secret", "secret": {"secretName": "s"}},
            {"name": "config", "configMap": {"name": "c"}},
            {"name": "scratch", "emptyDir": {"medium": "Memory"}},
            {
                "name": "token",
                "projected": {
                    "sources": [
                        {
                            "serviceAccountToken": {
                                "path": "token",
                                "audience": "dask-test",
                                "expirationSeconds": 3600,
                            }
                        }
                    ]
                },
            },
        ],
    )
    kubectl.apply(spec)
    kubectl.wait_ready("vols", namespace)

    def read(path: str) -> str:
        return kubectl("exec", "vols", "-n", namespace, "--", "cat", path)

    assert read("/secret/password") == "hunter2"
    assert read("/config/setting") == "on"
    assert read("/scratch/f").strip() == "scratch"
    token = read("/token/token")
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert payload["aud"] == ["dask-test"]
    assert payload["kubernetes.io"]["pod"]["name"] == "vols"
    assert payload["sub"] == f"system:serviceaccount:{namespace}:default"
    # The Secret is a tmpfs the container cannot write to.
    mounts = read("/proc/mounts")
    assert any(
        line.split()[1] == "/secret" and line.split()[2] == "tmpfs" for line in mounts.splitlines()
    )
    refused = kubectl.run("exec", "vols", "-n", namespace, "--", "touch", "/secret/x")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr


def _web(namespace: str) -> list[dict[str, object]]:
    server = pod(
        "web",
        namespace,
        [
            "sh",
            "-c",
            "mkdir -p /tmp/www && echo served-by-web > /tmp/www/index.html && "
            "exec httpd -f -p 8080 -h /tmp/www",
        ],
        container={"readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}},
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    nodeport = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web-np", "namespace": namespace},
        "spec": {
            "type": "NodePort",
            "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": 8080}],
        },
    }
    return [server, service, nodeport]


def test_dns_clusterip_and_nodeport_for_a_non_python_program(
    kubectl: Kubectl, namespace: str, k8s: LocalKubernetes
) -> None:
    kubectl.apply(*_web(namespace))
    kubectl.apply(pod("client", namespace, ["sleep", "3600"]))
    kubectl.wait_ready("web", namespace)
    kubectl.wait_ready("client", namespace)
    cluster_ip = kubectl.get("service", "web", namespace)["spec"]["clusterIP"]
    node_port = kubectl.get("service", "web-np", namespace)["spec"]["ports"][0]["nodePort"]

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return kubectl.run("exec", "client", "-n", namespace, "--", *command)

    resolv = run("cat", "/etc/resolv.conf").stdout
    assert f"nameserver {CLUSTER_DNS}" in resolv and f"{namespace}.svc.cluster.local" in resolv

    # busybox's nslookup (C, no Python): the Service name resolves to its ClusterIP via CoreDNS.
    def answer(command: list[str], expected: str) -> str | None:
        result = run(*command)
        return result.stdout if result.returncode == 0 and expected in result.stdout else None

    lookup = ["nslookup", f"web.{namespace}.svc.cluster.local"]
    eventually(lambda: answer(lookup, cluster_ip), what="DNS answer for the Service")

    # ClusterIP through kube-proxy, by short name (search path) and by address. HTTP by hand
    # over busybox nc: the image's busybox wget (Debian busybox-static 1.35) segfaults here.
    def get(host: str, port: int) -> list[str]:
        request = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {host} {port}"
        return ["sh", "-c", request]

    body = eventually(lambda: answer(get("web", 80), "served"), what="an answer via the ClusterIP")
    assert body.splitlines()[0].startswith("HTTP/1.") and "served-by-web" in body
    assert "served-by-web" in run(*get(cluster_ip, 80)).stdout
    # NodePort on the node's address, from a pod and from the cluster's namespace itself.
    from_pod = run(*get(NODE_ADDRESS, node_port))
    assert "served-by-web" in from_pod.stdout, from_pod.stderr
    assert k8s.real is not None and k8s.real.namespace is not None
    from_node = subprocess.run(
        [
            *k8s.real.namespace.exec_prefix(),
            "python3",
            "-c",
            "import sys, urllib.request; "
            f"sys.stdout.write(urllib.request.urlopen('http://{NODE_ADDRESS}:{node_port}/',"
            " timeout=10).read().decode())",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert from_node.stdout.strip() == "served-by-web", from_node.stderr
    # A name that does not exist fails (no upstream: nothing leaves the namespace).
    assert run("nslookup", f"nothere.{namespace}.svc.cluster.local").returncode != 0


def test_run_as_non_root_and_read_only_root_filesystem_are_enforced(
    kubectl: Kubectl, namespace: str
) -> None:
    # The image runs as root: runAsNonRoot without a user is refused before it starts.
    kubectl.apply(
        pod(
            "rootly",
            namespace,
            ["sleep", "3600"],
            container={"securityContext": {"runAsNonRoot": True}},
        )
    )

    def waiting_reason() -> str | None:
        statuses = kubectl.get("pod", "rootly", namespace)["status"].get("containerStatuses")
        waiting = statuses[0]["state"].get("waiting", {}) if statuses else {}
        message = waiting.get("message", "")
        return message if "runAsNonRoot" in message else None

    refusal = eventually(waiting_reason, what="the non-root refusal")
    assert "image will run as root" in refusal
    hardened = {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    kubectl.apply(
        pod("hardened", namespace, ["sleep", "3600"], container={"securityContext": hardened})
    )
    kubectl.wait_ready("hardened", namespace)

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return kubectl.run("exec", "hardened", "-n", namespace, "--", *command)

    assert run("id", "-u").stdout.strip() == "1000"
    written = run("touch", "/bin/x")
    assert written.returncode != 0 and "Read-only file system" in written.stderr
    status = run("cat", "/proc/self/status").stdout
    effective = next(line for line in status.splitlines() if line.startswith("CapEff:"))
    assert int(effective.split()[1], 16) == 0
    assert "NoNewPrivs:\t1" in status


def test_images_are_never_pulled(kubectl: Kubectl, namespace: str) -> None:
    """An image that was not imported stays unpulled (no registry here): ErrImageNeverPull."""
    kubectl.apply(pod("missing", namespace, ["true"], image="localhost/not-imported:1"))

    def reason() -> str | None:
        statuses = kubectl.get("pod", "missing", namespace)["status"].get("containerStatuses")
        waiting = statuses[0]["state"].get("waiting", {}) if statuses else {}
        return waiting.get("reason") if waiting.get("reason") == "ErrImageNeverPull" else None

    assert eventually(reason, what="ErrImageNeverPull") == "ErrImageNeverPull"
    assert BUSYBOX != "localhost/not-imported:1"


def test_node_files_stay_in_the_state_dir(k8s: LocalKubernetes) -> None:
    """containerd's root, the kubelet's root, the pod logs and CNI IPAM state are all under the
    cluster's state dir; nothing of ours is mounted in the host's mount namespace."""
    node_dir = Path(k8s.state_dir) / "nodes" / "local"
    for sub in ("containerd/root", "kubelet", "pod-logs", "cni/ipam"):
        assert (node_dir / sub).is_dir(), sub
    host_mounts = Path("/proc/self/mountinfo").read_text()
    assert str(k8s.state_dir) not in host_mounts
    assert "/run/containerd" not in host_mounts
