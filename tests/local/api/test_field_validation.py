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
from api_support import eventually
from control_planes import Endpoint

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
    endpoint: Endpoint, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, Any], list[str]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{endpoint.url}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with endpoint.open(request, timeout=10) as response:
            return response.status, json.load(response), response.headers.get_all("Warning") or []
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), error.headers.get_all("Warning") or []


@pytest.fixture(scope="module")
def widgets(endpoint: Endpoint) -> Iterator[str]:
    status, _, _ = send(endpoint, "POST", CRDS, CRD)
    assert status == 201

    def established() -> bool:
        _, crd, _ = send(endpoint, "GET", f"{CRDS}/widgets.validation.dask.org")
        conditions = crd.get("status", {}).get("conditions") or []
        return {c["type"]: c["status"] for c in conditions}.get("Established") == "True"

    eventually(established, "the Widget CRD to be established")
    yield "/apis/validation.dask.org/v1"
    send(endpoint, "DELETE", f"{CRDS}/widgets.validation.dask.org")


def widget(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "validation.dask.org/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": 1, "colour": "red"},
    }


def test_strict_rejects_unknown_fields(endpoint: Endpoint, widgets: str, namespace: str) -> None:
    path = f"{widgets}/namespaces/{namespace}/widgets"
    status, body, _ = send(endpoint, "POST", f"{path}?fieldValidation=Strict", widget("w"))
    assert status == 400 and body["reason"] == "BadRequest"
    assert body["message"] == (
        'Widget in version "v1" cannot be handled as a Widget: '
        'strict decoding error: unknown field "spec.colour"'
    )
    status, _, _ = send(endpoint, "GET", f"{path}/w")
    assert status == 404


def test_warn_is_the_default_and_ignore_is_silent(
    endpoint: Endpoint, widgets: str, namespace: str
) -> None:
    path = f"{widgets}/namespaces/{namespace}/widgets"
    status, body, warnings = send(endpoint, "POST", path, widget("warned"))
    assert status == 201 and body["spec"] == {"size": 1}
    assert warnings == ['299 - "unknown field \\"spec.colour\\""']
    status, body, warnings = send(
        endpoint, "POST", f"{path}?fieldValidation=Ignore", widget("ignored")
    )
    assert status == 201 and body["spec"] == {"size": 1} and warnings == []
    status, body, _ = send(endpoint, "POST", f"{path}?fieldValidation=Lax", widget("bad"))
    assert status == 422 and body["reason"] == "Invalid", body
    assert [c["field"] for c in body["details"]["causes"]] == ["fieldValidation"]


def test_openapi_v3_declares_field_validation_on_patch(endpoint: Endpoint, widgets: str) -> None:
    """kubectl looks for `fieldValidation` among the PATCH operation's own parameters."""
    for document in ("/openapi/v3/api/v1", "/openapi/v3/apis/validation.dask.org/v1"):
        status, body, _ = send(endpoint, "GET", document)
        assert status == 200
        patchable = [
            ops["patch"]
            for path, ops in body["paths"].items()
            if "patch" in ops and "/proxy" not in path  # proxies take any verb, no options
        ]
        assert patchable, document
        for patch in patchable:
            names = [p["name"] for p in patch["parameters"] if p["in"] == "query"]
            assert "fieldValidation" in names


EXPECTED_MISSING = {
    "kind": "Object 'Kind' is missing",
    "apiVersion": "the API version in the data () does not match the expected API version",
}


def test_a_custom_object_must_say_its_kind(
    endpoint: Endpoint, widgets: str, namespace: str
) -> None:
    """A built-in type's kind is implied by the URL; an unstructured custom object's is not."""
    path = f"{widgets}/namespaces/{namespace}/widgets"
    for missing in ("kind", "apiVersion"):
        body = widget(f"no-{missing.lower()}")
        del body[missing]
        status, answer, _ = send(endpoint, "POST", path, body)
        assert (status, answer["reason"]) == (400, "BadRequest"), answer
        assert EXPECTED_MISSING[missing] in answer["message"]


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
    manifest.write_text(json.dumps(widget("k")))
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
