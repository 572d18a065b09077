"""Every kind gets a real `creationTimestamp` that writes cannot move, and `kubectl get crd` shows
it as a real server does (NAME, SCOPE, VERSIONS, CREATED AT)."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from api_support import eventually
from control_planes import Endpoint

from dask_kubernetes.local.apiserver.resources import BUILTINS, ResourceType

PAST = "2001-01-01T00:00:00Z"
CRDS = "customresourcedefinitions"
TEMPLATE = {
    "selector": {"matchLabels": {"app": "stamp"}},
    "template": {
        "metadata": {"labels": {"app": "stamp"}},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    },
}
ROLE_REF = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
# Valid objects of each kind (kube-apiserver validates them; the emulator checks less).
SPECIAL_BODIES: dict[str, dict[str, Any]] = {
    "pods": {"spec": {"containers": [{"name": "c", "image": "x"}]}},
    "services": {"spec": {"ports": [{"port": 80}]}},
    "persistentvolumeclaims": {
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    },
    "deployments": {"spec": TEMPLATE},
    "replicasets": {"spec": TEMPLATE},
    "rolebindings": {"roleRef": ROLE_REF},
    "clusterrolebindings": {"roleRef": ROLE_REF},
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


def call(endpoint: Endpoint, method: str, path: str, body: Any = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{endpoint.url}{path}", data=data, method=method)
    # A patch type only for PATCH: a real server answers 415 to a POST or PUT body labelled as one.
    patch = method == "PATCH"
    request.add_header(
        "Content-Type", "application/merge-patch+json" if patch else "application/json"
    )
    with endpoint.open(request, timeout=10) as response:
        return dict(json.load(response))


def collection(resource: ResourceType, namespace: str) -> str:
    root = f"/apis/{resource.group}/{resource.version}" if resource.group else "/api/v1"
    scope = f"/namespaces/{namespace}" if resource.namespaced else ""
    return f"{root}{scope}/{resource.plural}"


def recent(timestamp: str) -> bool:
    moment = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return abs((now - moment).total_seconds()) < 60


def event(resource: ResourceType, namespace: str) -> dict[str, Any]:
    """A valid core/v1 or events.k8s.io/v1 Event about a Pod in `namespace`."""
    about = {"kind": "Pod", "namespace": namespace, "name": "p", "apiVersion": "v1"}
    if resource.group == "":
        return {"involvedObject": about, "reason": "Stamped", "type": "Normal"}
    return {
        "regarding": about,
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "dask.org/stamps",
        "reportingInstance": "stamps-1",
        "action": "Stamp",
        "reason": "Stamped",
        "type": "Normal",
    }


STORED = [r for r in BUILTINS if "get" in r.verbs]  # not the reviews, which are never stored


@pytest.mark.parametrize("resource", STORED, ids=lambda r: f"{r.group or 'core'}.{r.plural}")
def test_every_builtin_kind_gets_a_creation_timestamp(
    endpoint: Endpoint, namespace: str, resource: ResourceType
) -> None:
    name = f"stamp-{namespace}" if not resource.namespaced else "stamp"
    if resource.plural == "customresourcedefinitions":
        name = "stamps.stamps.dask.org"
    body = {"metadata": {"name": name, "creationTimestamp": PAST}}
    body.update(SPECIAL_BODIES.get(resource.plural, {}))
    if resource.plural == "events":
        body.update(event(resource, namespace))
    path = collection(resource, namespace)
    created = call(endpoint, "POST", path, body)
    try:
        stamp = created["metadata"]["creationTimestamp"]
        assert stamp != PAST and recent(stamp)
        patched = call(
            endpoint, "PATCH", f"{path}/{name}", {"metadata": {"creationTimestamp": PAST}}
        )
        assert patched["metadata"]["creationTimestamp"] == stamp
        assert call(endpoint, "GET", f"{path}/{name}")["metadata"]["creationTimestamp"] == stamp
    finally:
        call(endpoint, "DELETE", f"{path}/{name}", {"gracePeriodSeconds": 0})


def test_crd_table_shows_created_at(endpoint: Endpoint) -> None:
    crd = {
        "metadata": {"name": "tables.stamps.dask.org"},
        **SPECIAL_BODIES["customresourcedefinitions"],
    }
    crd["spec"] = {**crd["spec"], "names": {"plural": "tables", "kind": "Table"}}
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    created = call(endpoint, "POST", path, crd)
    try:

        def established_row() -> list[Any] | None:
            request = urllib.request.Request(f"{endpoint.url}{path}/tables.stamps.dask.org")
            request.add_header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
            with endpoint.open(request, timeout=10) as response:
                table = json.load(response)
            columns = [(c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]]
            assert columns == [
                ("Name", "string", 0),
                ("Scope", "string", 0),
                ("Versions", "string", 0),
                ("Created At", "date", 0),
                ("Group", "string", 1),
                ("Kind", "string", 1),
                ("ShortNames", "string", 1),
                ("Established", "boolean", 1),
            ]
            cells: list[Any] = table["rows"][0]["cells"]
            return cells if cells[-1] is True else None

        assert eventually(established_row, "the CRD to be established") == [
            "tables.stamps.dask.org",
            "Namespaced",
            "v1(storage)",
            created["metadata"]["creationTimestamp"],
            "stamps.dask.org",
            "Table",
            "",
            True,
        ]
    finally:
        call(endpoint, "DELETE", f"{path}/tables.stamps.dask.org")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_crd_shows_created_at(endpoint: Endpoint, kubeconfig: Path) -> None:
    crd = {"metadata": {"name": "gauges.stamps.dask.org"}, **SPECIAL_BODIES[CRDS]}
    crd["spec"] = {**crd["spec"], "names": {"plural": "gauges", "kind": "Gauge"}}
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    created = call(endpoint, "POST", path, crd)
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
        assert shown == [
            *("NAME", "SCOPE", "VERSIONS", "CREATED", "AT"),
            *("gauges.stamps.dask.org", "Namespaced", "v1(storage)", stamp),
        ]
    finally:
        call(endpoint, "DELETE", f"{path}/gauges.stamps.dask.org")


def test_a_create_labelled_as_a_patch_is_415(endpoint: Endpoint, namespace: str) -> None:
    """kube-apiserver decodes a POST body by its media type: a patch type is not one (415)."""
    body = json.dumps({"metadata": {"name": "typed"}}).encode()
    path = f"{endpoint.url}/api/v1/namespaces/{namespace}/configmaps"
    request = urllib.request.Request(path, data=body, method="POST")
    request.add_header("Content-Type", "application/merge-patch+json")
    with pytest.raises(urllib.error.HTTPError) as refused:
        endpoint.open(request, timeout=10)
    assert refused.value.code == 415
    assert json.load(refused.value)["reason"] == "UnsupportedMediaType"
