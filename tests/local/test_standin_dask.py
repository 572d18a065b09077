"""A DaskCluster-sized workload as plain pods: one scheduler, several workers, a Service.

Real `dask-scheduler`/`dask-worker` processes (the upstream manifests' commands), workers reaching
the scheduler by its cluster DNS name, and a Client in the test process reaching it from outside.
"""

from __future__ import annotations

import pytest
from distributed import Client
from standin_support import (
    create_pod,
    create_service,
    is_ready,
    load_balancer_ip,
    logs,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

WORKERS = 3


def scheduler_pod(namespace: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "demo-scheduler",
            "namespace": namespace,
            "labels": {"dask.org/cluster-name": "demo", "dask.org/component": "scheduler"},
        },
        "spec": {
            "containers": [
                {
                    "name": "scheduler",
                    "image": "ghcr.io/dask/dask:latest",
                    "args": ["dask-scheduler", "--host", "0.0.0.0"],
                    "ports": [
                        {"name": "tcp-comm", "containerPort": 8786},
                        {"name": "http-dashboard", "containerPort": 8787},
                    ],
                    "readinessProbe": {
                        "httpGet": {"port": "http-dashboard", "path": "/health"},
                        "periodSeconds": 1,
                    },
                }
            ]
        },
    }


def worker_pod(namespace: str, index: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"demo-worker-{index}",
            "namespace": namespace,
            "labels": {"dask.org/cluster-name": "demo", "dask.org/component": "worker"},
        },
        "spec": {
            "containers": [
                {
                    "name": "worker",
                    "image": "ghcr.io/dask/dask:latest",
                    "args": [
                        "dask-worker",
                        "--name",
                        "$(DASK_WORKER_NAME)",
                        "--nthreads",
                        "1",
                        "--dashboard-address",
                        "8788",
                    ],
                    "env": [
                        {"name": "DASK_WORKER_NAME", "value": f"demo-worker-{index}"},
                        {
                            "name": "DASK_SCHEDULER_ADDRESS",
                            "value": f"tcp://demo-scheduler.{namespace}.svc.cluster.local:8786",
                        },
                    ],
                }
            ]
        },
    }


def test_scheduler_and_workers_compute(k8s_cluster, k8s_namespace) -> None:
    if not k8s_cluster.local:
        pytest.skip("reaches the scheduler through a host-reachable LoadBalancer address")
    kubeconfig = k8s_cluster.kubeconfig
    scheduler = create_pod(kubeconfig, scheduler_pod(k8s_namespace))
    svc = create_service(
        kubeconfig,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "demo-scheduler", "namespace": k8s_namespace},
            "spec": {
                "type": "LoadBalancer",
                "selector": {"dask.org/cluster-name": "demo", "dask.org/component": "scheduler"},
                "ports": [
                    {"name": "tcp-comm", "port": 8786, "targetPort": "tcp-comm"},
                    {"name": "http-dashboard", "port": 8787, "targetPort": "http-dashboard"},
                ],
            },
        },
    )
    workers = [create_pod(kubeconfig, worker_pod(k8s_namespace, i)) for i in range(WORKERS)]
    wait_for(lambda: is_ready(scheduler), "the scheduler to be ready", timeout=90)
    address = wait_for(lambda: load_balancer_ip(svc), "a LoadBalancer address")
    with Client(f"tcp://{address}:8786", timeout="30s") as client:
        client.wait_for_workers(WORKERS, timeout=120)
        info = client.scheduler_info(n_workers=-1)
        names = sorted(w["name"] for w in info["workers"].values())
        assert names == [f"demo-worker-{i}" for i in range(WORKERS)]
        # Workers advertise their own pod IPs, the scheduler its pod IP.
        scheduler.refresh()
        assert info["address"] == f"tcp://{scheduler.raw['status']['podIP']}:8786"
        worker_ips = {w.refresh() or w.raw["status"]["podIP"] for w in workers}
        assert {a.split("//")[1].split(":")[0] for a in info["workers"]} == worker_ips
        total = client.submit(sum, client.map(lambda x: x * x, range(100))).result(timeout=60)
        assert total == sum(x * x for x in range(100))
    assert "Scheduler at:" in logs(scheduler)
