"""Service cluster IPs come from the configured range, stay fixed, and are released."""

from __future__ import annotations

import ipaddress
import json

import pytest
from api_support import eventually
from control_planes import Endpoint
from kubernetes import client
from kubernetes.client.rest import ApiException
from test_table import get_table

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


def test_node_ports_are_allocated_kept_released_and_refused_when_taken(
    endpoint: Endpoint, k8s: client.ApiClient, namespace: str
) -> None:
    """NodePort Services get a port of 30000-32767 per Service port, as kube-apiserver's
    default --service-node-port-range gives (issue 22: the stand-in gave none)."""
    core = client.CoreV1Api(k8s)
    made = core.create_namespaced_service(namespace, service("np", type="NodePort"))
    port = made.spec.ports[0].node_port
    assert 30000 <= port <= 32767
    assert made.spec.external_traffic_policy == "Cluster"
    table = get_table(endpoint, f"{endpoint.url}/api/v1/namespaces/{namespace}/services/np")
    assert table["rows"][0]["cells"][1:5] == [
        "NodePort",
        made.spec.cluster_ip,
        "<none>",
        f"8786:{port}/TCP",
    ]
    # An update that leaves the node port out keeps it.
    body = core.read_namespaced_service("np", namespace)
    body.spec.ports[0].node_port = None
    body.metadata.labels = {"x": "y"}
    assert core.replace_namespaced_service("np", namespace, body).spec.ports[0].node_port == port

    def refused(name: str, node_port: int, **spec: object) -> str:
        ports = [{"port": 8786, "nodePort": node_port}]
        body = service(name, type="NodePort") | {"spec": {"type": "NodePort", "ports": ports}}
        body["spec"].update(spec)
        with pytest.raises(ApiException) as info:
            core.create_namespaced_service(namespace, body)
        assert info.value.status == 422
        return json.loads(info.value.body)["message"]

    assert "spec.ports[0].nodePort: Invalid value: " in refused("taken", port)
    assert "provided port is already allocated" in refused("taken", port)
    assert "provided port is not in the valid range. The range of valid ports is 30000-32767" in (
        refused("far", 40000)
    )
    assert "may not be used when `type` is 'ClusterIP'" in refused("plain", port, type="ClusterIP")
    core.delete_namespaced_service("np", namespace)
    asked = service("again", type="NodePort")
    asked["spec"]["ports"][0]["nodePort"] = port
    again = eventually(lambda: _create_or_none(core, namespace, asked), "the port to be released")
    assert again.spec.ports[0].node_port == port


def _create_or_none(core: client.CoreV1Api, namespace: str, body: dict) -> object | None:
    try:
        return core.create_namespaced_service(namespace, body)
    except ApiException as error:
        if error.status != 422:
            raise
        return None
