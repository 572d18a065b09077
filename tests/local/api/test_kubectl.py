"""kubectl against the server: client-side apply, get (server-side Tables), scale, logs, delete."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from dask_kubernetes.local.apiserver import APIServer

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
    assert listed.stdout.split()[:3] == ["NAME", "AGE", "cfg"]
    kubectl(kubeconfig, "delete", "-n", namespace, "-f", str(manifest))
    gone = kubectl(kubeconfig, "get", "cm", "cfg", "-n", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_pods_table_and_logs(
    kubeconfig: Path, server: APIServer, namespace: str, tmp_path: Path
) -> None:
    pod = tmp_path / "pod.yaml"
    pod.write_text(
        textwrap.dedent(
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: worker}
            spec: {containers: [{name: main, image: ghcr.io/dask/dask}]}
            """
        )
    )
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(pod))
    table = kubectl(kubeconfig, "get", "pods", "-n", namespace).stdout.split()
    assert table[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table[5:8] == ["worker", "0/1", "Pending"]
    log = server.state_dir / "logs" / namespace / "worker" / "main.log"
    log.parent.mkdir(parents=True)
    log.write_text("distributed.worker - INFO - Start worker\n")
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
        assert table[:3] == ["NAME", "SIZE", "AGE"]
        assert table[3:5] == ["g", "4"]
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


def test_imperative_create_commands(kubeconfig: Path, standin: APIServer) -> None:
    """`kubectl create <kind>` sends protobuf for these kinds; the stand-in decodes them."""
    namespace = "imperative"
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
