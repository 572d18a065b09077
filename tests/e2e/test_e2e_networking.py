"""How the scheduler is reached: a LoadBalancer's address, else a port-forward (ClusterIP)."""

# mypy: disable-error-code="no-untyped-call"
# (distributed.Client is unannotated.)
from __future__ import annotations

import os
import socket
from typing import Any

import kr8s
import pytest
from distributed import Client
from e2e_helpers import IMAGE, RESOURCE_TIMEOUT

from dask_kubernetes.operator.kubecluster import KubeCluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_load_balancer_address_is_used(operator_cluster: Any, namespace: str) -> None:
    if not operator_cluster.local and not os.environ.get("DASK_KUBERNETES_TEST_LOADBALANCER"):
        pytest.skip(
            "kind has no load balancer; set DASK_KUBERNETES_TEST_LOADBALANCER=1 if yours has"
        )
    if operator_cluster.plane == "real":
        pytest.skip("the real plane has no service-LB controller: LoadBalancers get no address")
    with KubeCluster(
        name="lb",
        namespace=namespace,
        image=IMAGE,
        n_workers=1,
        scheduler_service_type="LoadBalancer",
        resource_timeout=RESOURCE_TIMEOUT,
        quiet=True,
    ) as cluster:
        api = kr8s.api(kubeconfig=operator_cluster.kubeconfig)
        [service] = api.get("services", "lb-scheduler", namespace=namespace, raw=True)
        ingress = service["status"]["loadBalancer"]["ingress"][0]
        host = ingress.get("hostname") or ingress["ip"]
        assert cluster.scheduler_address == f"tls://{host}:8786"
        assert cluster.dashboard_link.startswith(f"http://{host}:8787")
        with Client(cluster) as client:
            assert client.submit(lambda: "via lb").result() == "via lb"


def test_cluster_ip_is_port_forwarded_on_a_chosen_port(
    operator_cluster: Any, namespace: str
) -> None:
    with KubeCluster(
        name="forwarded",
        namespace=namespace,
        image=IMAGE,
        n_workers=0,
        port_forward_cluster_ip=True,
        scheduler_forward_port=free_port(),
        resource_timeout=RESOURCE_TIMEOUT,
        quiet=True,
    ) as cluster:
        assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
        port = cluster.scheduler_forward_port
        assert cluster.forwarded_dashboard_port == str(port)  # a string, as upstream has it
        assert cluster.dashboard_link == f"http://127.0.0.1:{port}/status"
