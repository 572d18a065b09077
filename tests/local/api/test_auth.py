"""Attacks on the API server's authentication: no token, a wrong token, another scheme, every
streaming and connect path (watch, logs, proxies, port-forward before its WebSocket upgrade), and
tokens minted for pods (they cannot mint more, and die with their pod)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dask_kubernetes.local.apiserver import APIServer

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "intruder", "namespace": "default"},
    "spec": {"containers": [{"name": "main", "image": "python:3", "args": ["true"]}]},
}
REFUSED_HEADERS = [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic YWRtaW46YWRtaW4="},
]


def send(url: str, method: str = "GET", body: Any = None, **headers: str) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def assert_unauthorized(status: int, body: Any) -> None:
    assert status == 401
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401


@pytest.mark.parametrize("headers", REFUSED_HEADERS, ids=["none", "wrong", "empty", "basic"])
def test_a_pod_without_the_token_is_refused_and_not_stored(
    private_server: Any, headers: dict[str, str]
) -> None:
    server: APIServer = private_server.server
    pods = f"{server.url}/api/v1/namespaces/default/pods"
    status, body = send(pods, "POST", POD, **headers)
    assert_unauthorized(status, body)
    status, listing = send(pods, Authorization=f"Bearer {server.admin_token}")
    assert status == 200 and listing["items"] == []
    refused = [r for r in server.audit if r.code == 401]
    assert refused and refused[-1].verb == "create" and refused[-1].user == ""


def test_only_what_a_real_server_shows_anonymously_is_open(private_server: Any) -> None:
    url = private_server.server.url
    for path in ("/healthz", "/livez", "/readyz", "/readyz/ping", "/version"):
        status, _ = send(url + path)
        assert status == 200, path
    for path in ("/api", "/apis", "/api/v1", "/openapi/v2", "/openapi/v3", "/api/v1/namespaces"):
        status, body = send(url + path)
        assert_unauthorized(status, body)
    # An open prefix does not open what lies behind it.
    status, body = send(url + "/healthz/../api/v1/namespaces")
    assert status in (200, 401) and "items" not in str(body)
    status, body = send(url + "/version/../api/v1/namespaces/default/pods", "POST", POD)
    assert status in (401, 405)


def test_streams_and_proxies_need_the_token(private_server: Any) -> None:
    server: APIServer = private_server.server
    base = f"{server.url}/api/v1/namespaces/default"
    for path in (
        "/pods?watch=true",
        "/pods/p/log?follow=true",
        "/pods/p:80/proxy/",
        "/services/s:80/proxy/",
        "/pods/p/portforward?ports=80",
    ):
        for headers in REFUSED_HEADERS:
            status, body = send(base + path, **headers)
            assert_unauthorized(status, body)


@pytest.mark.asyncio
async def test_port_forward_is_refused_before_the_websocket_upgrade(tmp_path: Path) -> None:
    async with APIServer(state_dir=tmp_path / "state") as server:
        url = f"{server.url}/api/v1/namespaces/default/pods/p/portforward?ports=80"
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(url, protocols=("v4.channel.k8s.io",))
            assert refused.value.status == 401
            # With the token, the upgrade is attempted and fails on the missing pod instead.
            with pytest.raises(aiohttp.WSServerHandshakeError) as missing:
                await session.ws_connect(
                    url,
                    protocols=("v4.channel.k8s.io",),
                    headers={"Authorization": f"Bearer {server.admin_token}"},
                )
            assert missing.value.status == 404


def test_every_instance_has_its_own_random_token(tmp_path: Path) -> None:
    first = APIServer(state_dir=tmp_path / "a").admin_token
    second = APIServer(state_dir=tmp_path / "b").admin_token
    assert first != second and len(first) >= 32


def test_pod_tokens_are_bound_to_their_pod_and_cannot_mint_more(private_server: Any) -> None:
    server: APIServer = private_server.server
    admin = {"Authorization": f"Bearer {server.admin_token}"}
    base = f"{server.url}/api/v1/namespaces/default"
    status, pod = send(f"{base}/pods", "POST", POD | {"metadata": {"name": "holder"}}, **admin)
    assert status == 201
    ref = {"kind": "Pod", "name": "holder", "uid": pod["metadata"]["uid"]}
    request = {"kind": "TokenRequest", "spec": {"boundObjectRef": ref}}
    status, answer = send(f"{base}/serviceaccounts/default/token", "POST", request, **admin)
    assert status == 201
    pod_token = answer["status"]["token"]
    assert pod_token != server.admin_token
    as_pod = {"Authorization": f"Bearer {pod_token}"}
    assert send(f"{base}/configmaps", **as_pod)[0] == 200
    assert server.audit[-1].user == "system:serviceaccount:default:default"
    # A pod may not mint tokens (for itself or another service account).
    status, body = send(f"{base}/serviceaccounts/admin/token", "POST", request, **as_pod)
    assert status == 403 and body["reason"] == "Forbidden"
    # A token for a pod that does not exist (or a stale uid) is refused.
    stale = {"kind": "TokenRequest", "spec": {"boundObjectRef": ref | {"uid": "not-it"}}}
    assert send(f"{base}/serviceaccounts/default/token", "POST", stale, **admin)[0] == 400
    status, _ = send(f"{base}/pods/holder?gracePeriodSeconds=0", "DELETE", **admin)
    assert status == 200
    assert_unauthorized(*send(f"{base}/configmaps", **as_pod))
    assert len(server.auth) == 1  # only the admin's: the dead pod's token is forgotten
    assert send(f"{base}/configmaps", **admin)[0] == 200
    assert server.audit[-1].user == "kubernetes-admin"


def _review(verb: str, resource: str, subresource: str = "", group: str = "") -> dict[str, Any]:
    attributes = {"verb": verb, "group": group, "resource": resource, "namespace": "default"}
    return {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "spec": {"resourceAttributes": attributes | {"subresource": subresource}},
    }


def test_access_reviews_say_no_exactly_where_the_server_refuses(private_server: Any) -> None:
    """`kubectl auth can-i` on the stand-in (no RBAC): a pod's token may do anything but mint
    tokens, so a review says "no" to that (and to wildcards covering it), "yes" to the rest;
    never "yes" to what the server then refuses."""
    server: APIServer = private_server.server
    admin = {"Authorization": f"Bearer {server.admin_token}"}
    base = f"{server.url}/api/v1/namespaces/default"
    reviews = f"{server.url}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    status, pod = send(f"{base}/pods", "POST", POD | {"metadata": {"name": "asker"}}, **admin)
    assert status == 201
    ref = {"kind": "Pod", "name": "asker", "uid": pod["metadata"]["uid"]}
    request = {"kind": "TokenRequest", "spec": {"boundObjectRef": ref}}
    status, answer = send(f"{base}/serviceaccounts/default/token", "POST", request, **admin)
    as_pod = {"Authorization": f"Bearer {answer['status']['token']}"}

    def allowed(review: dict[str, Any], **headers: str) -> bool:
        status, body = send(reviews, "POST", review, **headers)
        assert status == 201, body
        return bool(body["status"]["allowed"])

    mint = _review("create", "serviceaccounts", "token")
    assert not allowed(mint, **as_pod)
    assert send(f"{base}/serviceaccounts/default/token", "POST", request, **as_pod)[0] == 403
    assert not allowed(_review("*", "*", group="*"), **as_pod)
    assert not allowed(_review("create", "serviceaccounts", "*"), **as_pod)
    assert allowed(_review("create", "configmaps"), **as_pod)
    cm = {"metadata": {"name": "made-by-pod"}}
    assert send(f"{base}/configmaps", "POST", cm, **as_pod)[0] == 201
    assert allowed(_review("create", "serviceaccounts"), **as_pod)
    assert allowed(mint, **admin) and allowed(_review("*", "*", group="*"), **admin)
    # No credentials, no review; and the review itself is not stored anywhere.
    assert_unauthorized(*send(reviews, "POST", mint))
    assert send(reviews, **admin)[0] == 405
