"""Every kind gets a real `creationTimestamp` that writes cannot move, and `kubectl get crd` shows
it as a real server does (NAME, CREATED AT)."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from api_support import open_api

from dask_kubernetes.local.apiserver import APIServer
from dask_kubernetes.local.apiserver.resources import BUILTINS, ResourceType

pytestmark = pytest.mark.usefixtures("standin")

PAST = "2001-01-01T00:00:00Z"
CRDS = "customresourcedefinitions"
SPECIAL_BODIES: dict[str, dict[str, Any]] = {
    "pods": {"spec": {"containers": [{"name": "c", "image": "x"}]}},
    "customresourcedefinitions": {
        "spec": {
            "group": "stamps.dask.org",
            "scope": "Namespaced",
            "names": {"plural": "stamps", "kind": "Stamp"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        }
    },
}


def call(server: APIServer, method: str, path: str, body: Any = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{server.url}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/merge-patch+json")
    with open_api(server, request, timeout=10) as response:
        return dict(json.load(response))


def collection(resource: ResourceType, namespace: str) -> str:
    root = f"/apis/{resource.group}/{resource.version}" if resource.group else "/api/v1"
    scope = f"/namespaces/{namespace}" if resource.namespaced else ""
    return f"{root}{scope}/{resource.plural}"


def recent(timestamp: str) -> bool:
    moment = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return abs((now - moment).total_seconds()) < 60


@pytest.mark.parametrize("resource", BUILTINS, ids=lambda r: f"{r.group or 'core'}.{r.plural}")
def test_every_builtin_kind_gets_a_creation_timestamp(
    server: APIServer, namespace: str, resource: ResourceType
) -> None:
    name = f"stamp-{namespace}" if not resource.namespaced else "stamp"
    if resource.plural == "customresourcedefinitions":
        name = "stamps.stamps.dask.org"
    body = {"metadata": {"name": name, "creationTimestamp": PAST}}
    body.update(SPECIAL_BODIES.get(resource.plural, {}))
    path = collection(resource, namespace)
    created = call(server, "POST", path, body)
    try:
        stamp = created["metadata"]["creationTimestamp"]
        assert stamp != PAST and recent(stamp)
        patched = call(server, "PATCH", f"{path}/{name}", {"metadata": {"creationTimestamp": PAST}})
        assert patched["metadata"]["creationTimestamp"] == stamp
        assert call(server, "GET", f"{path}/{name}")["metadata"]["creationTimestamp"] == stamp
    finally:
        call(server, "DELETE", f"{path}/{name}", {"gracePeriodSeconds": 0})


def test_crd_table_shows_created_at(server: APIServer) -> None:
    crd = {
        "metadata": {"name": "tables.stamps.dask.org"},
        **SPECIAL_BODIES["customresourcedefinitions"],
    }
    crd["spec"] = {**crd["spec"], "names": {"plural": "tables", "kind": "Table"}}
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    created = call(server, "POST", path, crd)
    try:
        request = urllib.request.Request(f"{server.url}{path}/tables.stamps.dask.org")
        request.add_header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        with open_api(server, request, timeout=10) as response:
            table = json.load(response)
        assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Created At"]
        assert table["rows"][0]["cells"] == [
            "tables.stamps.dask.org",
            created["metadata"]["creationTimestamp"],
        ]
    finally:
        call(server, "DELETE", f"{path}/tables.stamps.dask.org")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_crd_shows_created_at(server: APIServer, kubeconfig: Path) -> None:
    crd = {"metadata": {"name": "gauges.stamps.dask.org"}, **SPECIAL_BODIES[CRDS]}
    crd["spec"] = {**crd["spec"], "names": {"plural": "gauges", "kind": "Gauge"}}
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    created = call(server, "POST", path, crd)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(kubeconfig.parent)}
    try:
        shown = subprocess.run(
            ["kubectl", "get", "crd", "gauges.stamps.dask.org"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        ).stdout.split()
        stamp = created["metadata"]["creationTimestamp"]
        assert shown == ["NAME", "CREATED", "AT", "gauges.stamps.dask.org", stamp]
    finally:
        call(server, "DELETE", f"{path}/gauges.stamps.dask.org")
