"""Server-side printing: `Accept: ...;as=Table` returns the columns `kubectl get` shows."""

from __future__ import annotations

import json
import urllib.request

from api_support import open_api
from kubernetes import client

from dask_kubernetes.local.apiserver import APIServer

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def get_table(server: APIServer, url: str) -> dict:
    request = urllib.request.Request(url, headers={"Accept": TABLE})
    with open_api(server, request, timeout=10) as response:
        return json.load(response)


def test_service_and_pod_tables(server: APIServer, k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    service = core.create_namespaced_service(
        namespace, {"metadata": {"name": "sched"}, "spec": {"ports": [{"port": 8786}]}}
    )
    core.create_namespaced_pod(
        namespace,
        {"metadata": {"name": "w"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
    )
    base = f"{server.url}/api/v1/namespaces/{namespace}"
    services = get_table(server, f"{base}/services")
    assert services["kind"] == "Table"
    names = [c["name"] for c in services["columnDefinitions"]]
    assert names == ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"]
    row = services["rows"][0]
    assert row["cells"][:5] == ["sched", "ClusterIP", service.spec.cluster_ip, "<none>", "8786/TCP"]
    assert row["object"]["metadata"]["name"] == "sched"
    pod = get_table(server, f"{base}/pods/w")
    assert [c["name"] for c in pod["columnDefinitions"]][:4] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
    ]
    assert pod["rows"][0]["cells"][:4] == ["w", "0/1", "Pending", 0]


def test_watch_as_table(server: APIServer, k8s: client.ApiClient, namespace: str) -> None:
    """`kubectl get -w` watches with as=Table: every event carries a one-row Table."""
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "t"}})
    url = f"{server.url}/api/v1/namespaces/{namespace}/configmaps?watch=true&timeoutSeconds=0.3"
    request = urllib.request.Request(url, headers={"Accept": TABLE})
    with open_api(server, request, timeout=10) as response:
        events = [json.loads(line) for line in response]
    assert [e["type"] for e in events] == ["ADDED"]
    assert events[0]["object"]["kind"] == "Table"
    assert events[0]["object"]["rows"][0]["cells"][0] == "t"
