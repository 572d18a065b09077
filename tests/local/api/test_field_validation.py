"""`fieldValidation` (Ignore, Warn, Strict) for custom resources, and the OpenAPI v3 documents
that tell kubectl the server validates fields itself, so `kubectl apply` needs no
`--validate=false` and still rejects unknown fields."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import open_api

from dask_kubernetes.local.apiserver import APIServer

pytestmark = pytest.mark.usefixtures("standin")
KUBECTL = shutil.which("kubectl")
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
CRD = {
    "metadata": {"name": "widgets.validation.dask.org"},
    "spec": {
        "group": "validation.dask.org",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}
                        },
                    }
                },
            }
        ],
    },
}


def send(
    server: APIServer, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, Any], list[str]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{server.url}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with open_api(server, request, timeout=10) as response:
            return response.status, json.load(response), response.headers.get_all("Warning") or []
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), error.headers.get_all("Warning") or []


@pytest.fixture(scope="module")
def widgets(server: APIServer) -> Iterator[str]:
    status, _, _ = send(server, "POST", CRDS, CRD)
    assert status == 201
    yield "/apis/validation.dask.org/v1"
    send(server, "DELETE", f"{CRDS}/widgets.validation.dask.org")


def widget(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"size": 1, "colour": "red"}}


def test_strict_rejects_unknown_fields(server: APIServer, widgets: str, namespace: str) -> None:
    path = f"{widgets}/namespaces/{namespace}/widgets"
    status, body, _ = send(server, "POST", f"{path}?fieldValidation=Strict", widget("w"))
    assert status == 400 and body["reason"] == "BadRequest"
    assert body["message"] == (
        'Widget in version "v1" cannot be handled as a Widget: '
        'strict decoding error: unknown field "spec.colour"'
    )
    status, _, _ = send(server, "GET", f"{path}/w")
    assert status == 404


def test_warn_is_the_default_and_ignore_is_silent(
    server: APIServer, widgets: str, namespace: str
) -> None:
    path = f"{widgets}/namespaces/{namespace}/widgets"
    status, body, warnings = send(server, "POST", path, widget("warned"))
    assert status == 201 and body["spec"] == {"size": 1}
    assert warnings == ['299 - "unknown field \\"spec.colour\\""']
    status, body, warnings = send(
        server, "POST", f"{path}?fieldValidation=Ignore", widget("ignored")
    )
    assert status == 201 and body["spec"] == {"size": 1} and warnings == []
    status, body, _ = send(server, "POST", f"{path}?fieldValidation=Lax", widget("bad"))
    assert status == 400 and "fieldValidation" in body["message"]


def test_openapi_v3_declares_field_validation_on_patch(server: APIServer, widgets: str) -> None:
    """kubectl looks for `fieldValidation` among the PATCH operation's own parameters."""
    for document in ("/openapi/v3/api/v1", "/openapi/v3/apis/validation.dask.org/v1"):
        status, body, _ = send(server, "GET", document)
        assert status == 200
        for operations in body["paths"].values():
            names = [p["name"] for p in operations["patch"]["parameters"] if p["in"] == "query"]
            assert "fieldValidation" in names


def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(kubeconfig.parent)}
    return subprocess.run(
        [KUBECTL, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")
def test_kubectl_apply_validates_on_the_server(
    kubeconfig: Path, widgets: str, namespace: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "widget.yaml"
    manifest.write_text(
        json.dumps({"apiVersion": "validation.dask.org/v1", "kind": "Widget", **widget("k")})
    )
    strict = kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(manifest))
    assert strict.returncode == 1
    assert 'strict decoding error: unknown field "spec.colour"' in strict.stderr
    warned = kubectl(kubeconfig, "apply", "--validate=warn", "-n", namespace, "-f", str(manifest))
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: unknown field "spec.colour"' in warned.stderr
    assert "server-side field validation is unsupported" not in warned.stderr
    config = tmp_path / "config.yaml"
    config.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "plain"},
                "data": {"a": "b"},
            }
        )
    )
    applied = kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(config))
    assert applied.returncode == 0 and "configmap/plain created" in applied.stdout
