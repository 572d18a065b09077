"""Helpers shared by the e2e tests (plain module: conftest modules are not importable)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

import kr8s
import pytest
from kr8s.objects import Pod

IMAGE = os.environ.get("DASK_KUBERNETES_TEST_IMAGE", "ghcr.io/dask/dask:latest")
# Generous: a real cluster may pull images; the stand-in is much faster than this.
RESOURCE_TIMEOUT = float(os.environ.get("DASK_KUBERNETES_TEST_RESOURCE_TIMEOUT", "120"))
# `dask ...` as a user runs it, with this interpreter's packages.
DASK_CLI = [sys.executable, "-c", "from dask.cli import run_cli; run_cli()"]


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `condition` until truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def object_names(kubeconfig: str, kind: str, namespace: str | None = None) -> list[str]:
    """Names of every `kind` object (in `namespace`), via a plain kr8s client."""
    api = kr8s.api(kubeconfig=kubeconfig)
    return [obj["metadata"]["name"] for obj in api.get(kind, namespace=namespace, raw=True)]


def cluster_pods(kubeconfig: str, namespace: str, name: str) -> list[Any]:
    api = kr8s.api(kubeconfig=kubeconfig)
    selector = f"dask.org/cluster-name={name}"
    return list(api.get(Pod, namespace=namespace, label_selector=selector))


def kube_cluster(name: str, namespace: str, **options: Any) -> Any:
    """A quiet KubeCluster with the e2e image and timeout (no workers unless asked)."""
    from dask_kubernetes.operator.kubecluster import KubeCluster

    settings: dict[str, Any] = {
        "image": IMAGE,
        "n_workers": 0,
        "resource_timeout": RESOURCE_TIMEOUT,
        "quiet": True,
    }
    return KubeCluster(name=name, namespace=namespace, **(settings | options))


#: Why a test does not hold on the container node (`--node=containers`), by test.
CONTAINER_NODE_LIMITS = {
    "node ports": "the container node's kube-proxy serves NodePorts inside the cluster's network "
    "namespace only (its ExternalIP is the node address): nothing listens on the host's "
    "loopback as the process node's network agent does (tests/containernode reaches NodePorts "
    "from inside)",
    "numpy": "the Dask image built here holds pyproject's runtime dependencies and gateway "
    "extra (release/docker/requirements.txt): no numpy, which the README's dask.array example "
    "needs",
}


def on_the_container_node(cluster: Any) -> bool:
    """Whether `cluster` is the session's container-node cluster (tests/conftest.py)."""
    return getattr(cluster, "shipped", None) is not None


def skip_on_the_container_node(cluster: Any, limit: str) -> None:
    if on_the_container_node(cluster):
        pytest.skip(f"container node: {CONTAINER_NODE_LIMITS[limit]}")
