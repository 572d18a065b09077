"""Server-side printing: `Accept: ...;as=Table` returns the columns `kubectl get` shows."""

from __future__ import annotations

import json
import urllib.request

from control_planes import Endpoint
from kubernetes import client
from node_support import BY_HAND

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def get_table(endpoint: Endpoint, url: str) -> dict:
    request = urllib.request.Request(url, headers={"Accept": TABLE})
    with endpoint.open(request, timeout=10) as response:
        return json.load(response)


def test_service_and_pod_tables(endpoint: Endpoint, k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    service = core.create_namespaced_service(
        namespace, {"metadata": {"name": "sched"}, "spec": {"ports": [{"port": 8786}]}}
    )
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "w"},
            "spec": {"schedulerName": BY_HAND, "containers": [{"name": "c", "image": "i"}]},
        },
    )
    base = f"{endpoint.url}/api/v1/namespaces/{namespace}"
    services = get_table(endpoint, f"{base}/services")
    assert services["kind"] == "Table"
    names = [(c["name"], c["priority"]) for c in services["columnDefinitions"]]
    assert names == [
        ("Name", 0),
        ("Type", 0),
        ("Cluster-IP", 0),
        ("External-IP", 0),
        ("Port(s)", 0),
        ("Age", 0),
        ("Selector", 1),  # `-o wide` only
    ]
    row = services["rows"][0]
    assert row["cells"][:5] == ["sched", "ClusterIP", service.spec.cluster_ip, "<none>", "8786/TCP"]
    assert row["object"]["metadata"]["name"] == "sched"
    pod = get_table(endpoint, f"{base}/pods/w")
    assert [c["name"] for c in pod["columnDefinitions"]][:4] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
    ]
    assert pod["rows"][0]["cells"][:4] == ["w", "0/1", "Pending", "0"]


def test_watch_as_table(endpoint: Endpoint, k8s: client.ApiClient, namespace: str) -> None:
    """`kubectl get -w` watches with as=Table: every event carries a one-row Table."""
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "t"}})
    url = f"{endpoint.url}/api/v1/namespaces/{namespace}/configmaps?watch=true&timeoutSeconds=1"
    url += "&fieldSelector=metadata.name%3Dt"  # not the real cluster's kube-root-ca.crt
    request = urllib.request.Request(url, headers={"Accept": TABLE})
    with endpoint.open(request, timeout=10) as response:
        events = [json.loads(line) for line in response]
    assert [e["type"] for e in events] == ["ADDED"]
    assert events[0]["object"]["kind"] == "Table"
    assert events[0]["object"]["rows"][0]["cells"][0] == "t"
