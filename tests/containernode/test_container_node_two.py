"""Two container nodes, and losing one (issue 25, item 6): the second node has its own network
namespace joined to the cluster's; the scheduler spreads pods over both, pods on different nodes
reach each other, a pod on the second node resolves names through CoreDNS on the first; when the
second node's kubelet and containerd stop, the real node lifecycle controller marks it NotReady,
taints it, evicts its pod, and the Deployment's replacement runs on the first node. The recovery
times are printed (`-s`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from containernode_support import (
    Kubectl,
    eventually,
    node_binaries,
    node_images,
    pod,
    require_root,
)
from control_planes import built_binaries

from dask_kubernetes.local import LocalKubernetes
from dask_kubernetes.local.containernode.cleanup import RECORD
from dask_kubernetes.local.network.netns import namespace_exists

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
FIRST, SECOND = "local", "local-2"


@pytest.fixture(scope="module")
def k8s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKubernetes]:
    require_root()
    plane = built_binaries().directory / "bin"
    binaries = node_binaries()
    images = node_images(tmp_path_factory.mktemp("images"))
    with LocalKubernetes(
        control_plane="real",
        binaries=plane,
        node="containers",
        node_binaries=binaries.bin,
        images=images,
        nodes=2,
    ) as cluster:
        assert cluster.real is not None
        print("two nodes ready:", cluster.real.start_seconds)
        yield cluster


@pytest.fixture(scope="module")
def kubectl(k8s: LocalKubernetes) -> Kubectl:
    assert k8s.real is not None and k8s.real.plane is not None
    return Kubectl(k8s.real.plane.binaries / "kubectl", k8s.kubeconfig)


def _ready(kubectl: Kubectl, node: str) -> str:
    conditions = kubectl.get("node", node, "")["status"]["conditions"]
    return str(next(c["status"] for c in conditions if c["type"] == "Ready"))


def _pods(kubectl: Kubectl, selector: str) -> list[dict[str, Any]]:
    listed = json.loads(kubectl("get", "pods", "-n", "default", "-l", selector, "-o", "json"))
    return list(listed["items"])


def test_both_nodes_are_ready_with_their_own_pod_cidrs(kubectl: Kubectl) -> None:
    nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == [FIRST, SECOND]
    assert all(_ready(kubectl, n["metadata"]["name"]) == "True" for n in nodes)
    cidrs = {n["spec"]["podCIDR"] for n in nodes}
    assert len(cidrs) == 2
    addresses = {
        a["address"] for n in nodes for a in n["status"]["addresses"] if a["type"] == "InternalIP"
    }
    assert addresses == {"10.240.0.1", "10.240.0.2"}


def test_pods_on_different_nodes_reach_each_other_and_the_cluster_dns(kubectl: Kubectl) -> None:
    server = pod(
        "far-web",
        "default",
        [
            "sh",
            "-c",
            "mkdir -p /tmp/w && echo far > /tmp/w/index.html && exec httpd -f -p 8080 -h /tmp/w",
        ],
        nodeName=SECOND,
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "far-web", "namespace": "default"},
        "spec": {"selector": {"app": "far-web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    near = pod("near", "default", ["sleep", "3600"], nodeName=FIRST)
    far = pod("far", "default", ["sleep", "3600"], nodeName=SECOND)
    kubectl.apply(server, service, near, far)
    for name in ("far-web", "near", "far"):
        kubectl.wait_ready(name, "default")
    far_ip = kubectl.get("pod", "far-web", "default")["status"]["podIP"]

    def fetch(client: str, host: str, port: int) -> str | None:
        request = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {host} {port}"
        result = kubectl.run("exec", client, "--", "sh", "-c", request)
        return result.stdout if "far" in result.stdout.splitlines()[-1:] else None

    assert eventually(lambda: fetch("near", far_ip, 8080), what="pod IP across nodes")
    assert eventually(lambda: fetch("near", "far-web", 80), what="ClusterIP across nodes")
    # The second node's pod asks CoreDNS (on the first node) through its own kube-proxy.
    looked_up = kubectl.run("exec", "far", "--", "nslookup", "far-web.default.svc.cluster.local")
    assert looked_up.returncode == 0, looked_up.stdout + looked_up.stderr


def test_losing_a_node_evicts_its_pod_and_the_replacement_runs_on_the_other(
    kubectl: Kubectl, k8s: LocalKubernetes
) -> None:
    tolerate = [
        {"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 2}
        for taint in ("unreachable", "not-ready")
    ]  # fmt: skip
    template = pod("spread", "default", ["sleep", "3600"], tolerations=tolerate)
    template["spec"]["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            # A lost node (tainted unreachable) is no longer a domain to balance against.
            "nodeTaintsPolicy": "Honor",
            "labelSelector": {"matchLabels": {"app": "spread"}},
        }
    ]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "spread", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "spread"}},
            "template": {"metadata": {"labels": {"app": "spread"}}, "spec": template["spec"]},
        },
    }
    kubectl.apply(deployment)
    kubectl("rollout", "status", "deployment/spread", "--timeout=120s", timeout=150)
    placed = sorted(p["spec"]["nodeName"] for p in _pods(kubectl, "app=spread"))
    assert placed == [FIRST, SECOND]  # spread by the real scheduler

    assert k8s.real is not None
    second = k8s.real.further_nodes[0][0]
    record = json.loads((Path(k8s.state_dir) / "nodes" / SECOND / RECORD).read_text())
    assert namespace_exists(record["netns"])
    started = time.monotonic()
    second.stop_runtime()  # the node's kubelet and containerd die; its containers keep running

    def not_ready() -> str | None:
        status = _ready(kubectl, SECOND)
        return status if status != "True" else None

    status = eventually(not_ready, timeout=180, what="the lost node marked not ready")
    noticed = time.monotonic() - started

    def replaced() -> list[str] | None:
        live = [p for p in _pods(kubectl, "app=spread") if "deletionTimestamp" not in p["metadata"]]
        ready = [
            p
            for p in live
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p["status"].get("conditions", [])
            )
        ]
        nodes = sorted(p["spec"]["nodeName"] for p in ready)
        return nodes if nodes == [FIRST, FIRST] else None

    assert eventually(replaced, timeout=180, what="the replacement on the first node")
    recovered = time.monotonic() - started
    taints = {t["key"] for t in kubectl.get("node", SECOND, "")["spec"].get("taints", [])}
    assert taints & {"node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"}
    print(
        f"node lost: Ready={status} after {noticed:.1f}s, replacement Ready after {recovered:.1f}s"
    )
