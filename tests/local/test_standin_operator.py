"""`LocalKubernetes(operator=True)`: the Dask CRDs get installed and the operator reconciles."""

from __future__ import annotations

import pytest
from kr8s.objects import new_class
from standin_support import api, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DaskCluster = new_class("DaskCluster", "kubernetes.dask.org/v1", namespaced=True)


def test_operator_creates_the_scheduler_pod_and_service(k8s_cluster_with_operator) -> None:
    kubeconfig = k8s_cluster_with_operator.kubeconfig
    cluster = DaskCluster(
        {
            "apiVersion": "kubernetes.dask.org/v1",
            "kind": "DaskCluster",
            "metadata": {"name": "smoke", "namespace": "default"},
            "spec": {
                "worker": {
                    "replicas": 1,
                    "spec": {
                        "containers": [
                            {
                                "name": "worker",
                                "image": "ghcr.io/dask/dask:latest",
                                "args": ["dask-worker", "--name", "$(DASK_WORKER_NAME)"],
                            }
                        ]
                    },
                },
                "scheduler": {
                    "spec": {
                        "containers": [
                            {
                                "name": "scheduler",
                                "image": "ghcr.io/dask/dask:latest",
                                "args": ["dask-scheduler"],
                                "ports": [{"name": "tcp-comm", "containerPort": 8786}],
                            }
                        ]
                    },
                    "service": {
                        "type": "ClusterIP",
                        "selector": {
                            "dask.org/cluster-name": "smoke",
                            "dask.org/component": "scheduler",
                        },
                        "ports": [{"name": "tcp-comm", "port": 8786, "targetPort": "tcp-comm"}],
                    },
                },
            },
        },
        api=api(kubeconfig),
    )
    cluster.create()
    try:
        client = api(kubeconfig)
        wait_for(
            lambda: [p for p in client.get("pods", namespace="default") if "scheduler" in p.name],
            "the operator to create the scheduler pod",
            timeout=60,
        )
        wait_for(
            lambda: [s for s in client.get("services", namespace="default") if "smoke" in s.name],
            "the scheduler service",
            timeout=60,
        )
    finally:
        cluster.delete()
