"""kubectl against the server: client-side apply, get (server-side Tables), scale, logs, delete."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from node_support import Node

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(kubeconfig.parent)}
    result = subprocess.run(
        [KUBECTL, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result


MANIFEST = """
apiVersion: v1
kind: ConfigMap
metadata: {{name: cfg, labels: {{app: web}}}}
data: {{a: "{value}"}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      schedulerName: by-hand
      containers:
      - name: c
        image: ghcr.io/dask/dask
        env: [{{name: A, value: "{value}"}}]
"""


@pytest.mark.slow
def test_apply_get_scale_delete(kubeconfig: Path, namespace: str, tmp_path: Path) -> None:
    manifest = tmp_path / "app.yaml"
    manifest.write_text(MANIFEST.format(value="1"))
    created = kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(manifest))
    assert "configmap/cfg created" in created.stdout
    manifest.write_text(MANIFEST.format(value="2"))
    configured = kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(manifest))
    assert "configmap/cfg configured" in configured.stdout
    value = kubectl(kubeconfig, "get", "cm", "cfg", "-n", namespace, "-o", "jsonpath={.data.a}")
    assert value.stdout == "2"
    env = kubectl(
        kubeconfig,
        "get",
        "deploy",
        "web",
        "-n",
        namespace,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].env[0].value}",
    )
    assert env.stdout == "2"
    kubectl(kubeconfig, "scale", "deployment", "web", "--replicas=3", "-n", namespace)
    replicas = kubectl(
        kubeconfig, "get", "deploy", "web", "-n", namespace, "-o", "jsonpath={.spec.replicas}"
    )
    assert replicas.stdout == "3"
    listed = kubectl(kubeconfig, "get", "cm", "-n", namespace, "-l", "app=web")
    assert listed.stdout.split()[:5] == ["NAME", "DATA", "AGE", "cfg", "1"]
    kubectl(kubeconfig, "delete", "-n", namespace, "-f", str(manifest))
    gone = kubectl(kubeconfig, "get", "cm", "cfg", "-n", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


ROLLOUT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: roll}
spec:
  replicas: 2
  selector: {matchLabels: {app: roll}}
  template:
    metadata: {labels: {app: roll}}
    spec:
      terminationGracePeriodSeconds: 0
      schedulerName: by-hand
      containers: [{name: c, image: ghcr.io/dask/dask}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: solo}
spec:
  replicas: 1
  selector: {matchLabels: {app: solo}}
  template:
    metadata: {labels: {app: solo}}
    spec: {schedulerName: by-hand, containers: [{name: c, image: ghcr.io/dask/dask}]}
"""
READY = {
    "phase": "Running",
    "podIP": "127.0.0.9",
    "conditions": [{"type": "Ready", "status": "True"}],
}


def eventually(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen in time")
        time.sleep(0.1)


def test_replica_sets_scale_and_rollout_status(
    kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    """No kubelet runs here: the test reports the pods ready itself, as a kubelet would."""
    manifest = tmp_path / "rollout.yaml"
    manifest.write_text(ROLLOUT)
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(manifest))

    def get(*args: str) -> list[str]:
        return kubectl(kubeconfig, "get", "-n", namespace, *args).stdout.split()

    eventually(lambda: get("rs", "-l", "app=roll")[6:9] == ["2", "2", "0"], "2 pods")
    table = get("rs", "-l", "app=roll")
    assert table[:5] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert table[5].startswith("roll-")
    for pod in get("pods", "-l", "app=roll", "-o", "name"):
        ready = json.dumps({"status": READY})
        kubectl(kubeconfig, "patch", pod, "-n", namespace, "--subresource=status", "-p", ready)
    status = kubectl(
        kubeconfig, "rollout", "status", "deployment/roll", "-n", namespace, "--timeout=30s"
    )
    assert 'deployment "roll" successfully rolled out' in status.stdout
    table = get("deploy", "roll")
    assert table[:5] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[5:9] == ["roll", "2/2", "2", "2"]

    scaled = kubectl(kubeconfig, "scale", "rs", "solo", "--replicas=3", "-n", namespace)
    assert "replicaset.apps/solo scaled" in scaled.stdout
    eventually(lambda: get("rs", "solo", "-o", "jsonpath={.status.replicas}") == ["3"], "3 pods")
    assert len(get("pods", "-l", "app=solo", "-o", "name")) == 3


def test_pods_table_and_logs(
    kubeconfig: Path, k8s: Any, node: Node, namespace: str, tmp_path: Path
) -> None:
    pod = tmp_path / "pod.yaml"
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "worker"},
        "spec": {
            "restartPolicy": "Never",
            "schedulingGates": [{"name": "dask.org/hold"}],
            "containers": [node.container(namespace, "worker")],
        },
    }
    pod.write_text(yaml.safe_dump(body))
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(pod))
    table = kubectl(kubeconfig, "get", "pods", "-n", namespace).stdout.split()
    assert table[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table[5:8] == ["worker", "0/1", "SchedulingGated"]
    # Lift the gate (kubectl apply of the same pod without it): the node runs it.
    del body["spec"]["schedulingGates"]
    pod.write_text(yaml.safe_dump(body))
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(pod))
    node.start(client.CoreV1Api(k8s), namespace, "worker")
    node.write_log(namespace, "worker", "main", "distributed.worker - INFO - Start worker\n")
    logs = kubectl(kubeconfig, "logs", "worker", "-n", namespace)
    assert logs.stdout == "distributed.worker - INFO - Start worker\n"


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.kubectl.dask.org}
spec:
  group: kubectl.dask.org
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, shortNames: [gd]}
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, maximum: 10}
"""


def test_custom_resources_with_printer_columns(
    kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    crd = tmp_path / "crd.yaml"
    crd.write_text(CRD)
    kubectl(kubeconfig, "apply", "-f", str(crd))
    try:
        gadget = tmp_path / "gadget.yaml"
        gadget.write_text(
            "apiVersion: kubectl.dask.org/v1\nkind: Gadget\nmetadata: {name: g}\nspec: {size: 4}\n"
        )
        kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(gadget))
        table = kubectl(kubeconfig, "get", "gd", "-n", namespace).stdout.split()
        # The CRD's columns replace the default AGE (it lists none itself).
        assert table == ["NAME", "SIZE", "g", "4"]
        gadget.write_text(
            "apiVersion: kubectl.dask.org/v1\nkind: Gadget\nmetadata: {name: g}\nspec: {size: 40}\n"
        )
        rejected = kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(gadget), check=False)
        assert rejected.returncode != 0
        assert "spec.size" in rejected.stderr and "less than or equal to 10" in rejected.stderr
    finally:
        kubectl(kubeconfig, "delete", "-f", str(crd))
    missing = kubectl(kubeconfig, "get", "gadgets", "-n", namespace, check=False)
    assert missing.returncode != 0


def test_imperative_create_commands(kubeconfig: Path) -> None:
    """`kubectl create <kind>` sends protobuf for these kinds; the stand-in decodes them."""
    namespace = f"imperative-{uuid.uuid4().hex[:8]}"
    kubectl(kubeconfig, "create", "namespace", namespace)
    try:
        kubectl(kubeconfig, "create", "configmap", "cm", "--from-literal=a=b", "-n", namespace)
        kubectl(
            kubeconfig, "create", "secret", "generic", "s", "--from-literal=k=v", "-n", namespace
        )
        kubectl(
            kubeconfig, "create", "deployment", "d", "--image=ghcr.io/dask/dask", "-n", namespace
        )
        kubectl(kubeconfig, "create", "service", "clusterip", "d", "--tcp=80:8786", "-n", namespace)
        data = kubectl(kubeconfig, "get", "cm", "cm", "-n", namespace, "-o", "jsonpath={.data.a}")
        assert data.stdout == "b"
        secret = kubectl(
            kubeconfig, "get", "secret", "s", "-n", namespace, "-o", "jsonpath={.data.k}"
        )
        assert secret.stdout == "dg=="
        image = kubectl(
            kubeconfig,
            "get",
            "deploy",
            "d",
            "-n",
            namespace,
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        )
        assert image.stdout == "ghcr.io/dask/dask"
        target = kubectl(
            kubeconfig,
            "get",
            "svc",
            "d",
            "-n",
            namespace,
            "-o",
            "jsonpath={.spec.ports[0].targetPort}",
        )
        assert target.stdout == "8786"
    finally:
        kubectl(kubeconfig, "delete", "namespace", namespace)
