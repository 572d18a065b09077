"""kubectl against each control plane (the stand-in and the real one): apply, get, logs, scale (a
CRD's scale subresource), delete.

`--validate=false` because the stand-in serves no OpenAPI documents kubectl can validate with.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest
import yaml
from control_planes import require_node
from standin_support import wait_for

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


def kubectl(cluster, *args: str, stdin: str | None = None) -> str:
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", cluster.kubeconfig, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_apply_get_logs_delete_a_pod(plane_cluster, plane_namespace) -> None:
    require_node(plane_cluster)
    k8s_cluster, k8s_namespace = plane_cluster, plane_namespace
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "kpod", "namespace": k8s_namespace},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {"name": "main", "image": "python:3", "args": ["python", "-c", "print('hi')"]}
            ],
        },
    }
    manifest = yaml.safe_dump(pod)
    assert "pod/kpod created" in kubectl(
        k8s_cluster, "apply", "--validate=false", "-f", "-", stdin=manifest
    )
    ns = ["-n", k8s_namespace]
    phase = ["get", "pod", "kpod", *ns, "-o", "jsonpath={.status.phase}"]
    wait_for(lambda: kubectl(k8s_cluster, *phase) == "Succeeded", "kpod to succeed")
    # kube-apiserver's printer shows the container's reason our kubelet wrote, not the phase.
    [row] = kubectl(k8s_cluster, "get", "pods", *ns, "--no-headers").splitlines()
    assert row.split()[:3] == ["kpod", "0/1", "Completed"]
    assert kubectl(k8s_cluster, "logs", "kpod", *ns) == "hi\n"
    assert 'pod "kpod" deleted' in kubectl(k8s_cluster, "delete", "pod", "kpod", *ns)
    assert kubectl(k8s_cluster, "get", "pods", *ns, "-o", "name") == ""


def test_the_node_shows_its_status_and_version(plane_cluster) -> None:
    """`kubectl get nodes`: our kubelet's node is Ready with its kubelet version, and a cordon
    shows as SchedulingDisabled (issue 22: the stand-in showed none of it)."""
    require_node(plane_cluster)
    from dask_kubernetes.local.kubelet.node import KUBELET_VERSION

    rows = [line.split() for line in kubectl(plane_cluster, "get", "nodes").splitlines()]
    assert rows[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    [local] = [row for row in rows if row[0] == "local"]
    assert (local[1], local[2], local[4]) == ("Ready", "<none>", KUBELET_VERSION)
    kubectl(plane_cluster, "cordon", "local")
    try:
        cordoned = kubectl(plane_cluster, "get", "node", "local", "--no-headers").split()
        assert cordoned[1] == "Ready,SchedulingDisabled"
    finally:
        kubectl(plane_cluster, "uncordon", "local")


def test_scale_a_custom_resource(plane_cluster, plane_namespace) -> None:
    k8s_cluster, k8s_namespace = plane_cluster, plane_namespace
    group = f"g{uuid.uuid4().hex[:8]}.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                        },
                    },
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"replicas": {"type": "integer"}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    kubectl(k8s_cluster, "apply", "--validate=false", "-f", "-", stdin=yaml.safe_dump(crd))
    try:
        widget = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": k8s_namespace},
            "spec": {"replicas": 1},
        }
        apply = ["apply", "--validate=false", "-f", "-"]
        wait_for(lambda: _ok(k8s_cluster, apply, yaml.safe_dump(widget)), "the CRD to be served")
        kind = f"widgets.{group}"
        kubectl(k8s_cluster, "scale", kind, "w", "-n", k8s_namespace, "--replicas=3")
        replicas = kubectl(
            k8s_cluster, "get", kind, "w", "-n", k8s_namespace, "-o", "jsonpath={.spec.replicas}"
        )
        assert replicas == "3"
    finally:
        kubectl(k8s_cluster, "delete", "crd", f"widgets.{group}")


def _ok(cluster, args: list[str], stdin: str) -> bool:
    try:
        kubectl(cluster, *args, stdin=stdin)
    except AssertionError:
        return False
    return True
