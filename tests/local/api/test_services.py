"""Service cluster IPs come from the configured range, stay fixed, and are released."""

from __future__ import annotations

import ipaddress

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from dask_kubernetes.local.apiserver.server import DEFAULT_SERVICE_CIDR


def service(name: str, **spec: object) -> dict:
    return {"metadata": {"name": name}, "spec": {"ports": [{"port": 8786}], **spec}}


def test_cluster_ips_are_allocated_in_range(
    k8s: client.ApiClient, namespace: str, standin: object
) -> None:
    """The emulator's own range (a real server allocates from its --service-cluster-ip-range)."""
    core = client.CoreV1Api(k8s)
    first = core.create_namespaced_service(namespace, service("a"))
    second = core.create_namespaced_service(namespace, service("b"))
    network = ipaddress.ip_network(DEFAULT_SERVICE_CIDR)
    assert ipaddress.ip_address(first.spec.cluster_ip) in network
    assert first.spec.cluster_ip != second.spec.cluster_ip
    assert first.spec.type == "ClusterIP"
    assert first.spec.ports[0].target_port == 8786
    headless = core.create_namespaced_service(namespace, service("h", clusterIP="None"))
    assert headless.spec.cluster_ip == "None"


def test_cluster_ip_is_immutable_and_kept_on_update(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    made = core.create_namespaced_service(namespace, service("s"))
    body = core.read_namespaced_service("s", namespace)
    body.spec.cluster_ip = None
    body.spec.cluster_ips = None
    body.metadata.labels = {"x": "y"}
    kept = core.replace_namespaced_service("s", namespace, body)
    assert kept.spec.cluster_ip == made.spec.cluster_ip
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_service("s", namespace, {"spec": {"clusterIP": "127.10.128.250"}})
    assert info.value.status == 422


def test_released_ip_can_be_requested_again(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    made = core.create_namespaced_service(namespace, service("r"))
    address = made.spec.cluster_ip
    with pytest.raises(ApiException) as taken:
        core.create_namespaced_service(namespace, service("r2", clusterIP=address))
    assert taken.value.status == 422
    core.delete_namespaced_service("r", namespace)
    again = core.create_namespaced_service(namespace, service("r3", clusterIP=address))
    assert again.spec.cluster_ip == address
