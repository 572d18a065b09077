"""A real kopf operator against the server: discovery, list+watch, finalizers, status patches,
posted events, and peering through `kopf.dev` peering objects."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import kopf
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from dask_kubernetes.local.apiserver import APIServer

PEERING_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "kopfpeerings.kopf.dev"},
    "spec": {
        "group": "kopf.dev",
        "scope": "Namespaced",
        "names": {"plural": "kopfpeerings", "singular": "kopfpeering", "kind": "KopfPeering"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def crd(group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                },
                                "status": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


async def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_kopf_operator_reconciles_with_peering(
    server: APIServer, k8s: client.ApiClient, namespace: str
) -> None:
    group = f"t{uuid.uuid4().hex[:6]}.dask.org"
    ext = client.ApiextensionsV1Api(k8s)
    ext.create_custom_resource_definition(crd(group))
    try:
        ext.create_custom_resource_definition(PEERING_CRD)
    except ApiException as error:
        assert error.status == 409
    custom = client.CustomObjectsApi(k8s)
    custom.create_namespaced_custom_object(
        "kopf.dev",
        "v1",
        namespace,
        "kopfpeerings",
        {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "default"}},
    )

    registry = kopf.OperatorRegistry()
    deleted: list[str] = []

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.watching.server_timeout = 10
        settings.posting.level = logging.INFO
        settings.peering.priority = 10

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(
            server=server.url, scheme="Bearer", token=server.admin_token, ca_data=server.ca_pem
        )

    @kopf.on.create(group, "v1", "widgets", id="created", registry=registry)
    def created(spec: Any, body: kopf.Body, patch: kopf.Patch, **_: Any) -> dict[str, Any]:
        patch.status["phase"] = "Created"
        kopf.info(body, reason="Created", message="widget created")
        return {"size": spec["size"]}

    @kopf.on.field(group, "v1", "widgets", field="spec.size", registry=registry)
    def resized(new: Any, patch: kopf.Patch, **_: Any) -> None:
        patch.status["size"] = new

    @kopf.on.delete(group, "v1", "widgets", registry=registry)
    def removed(name: str, **_: Any) -> None:
        deleted.append(name)

    stop_flag: asyncio.Event = asyncio.Event()
    ready_flag: asyncio.Event = asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(
            registry=registry,
            namespaces=[namespace],
            peering_name="default",
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    )
    try:
        await asyncio.wait_for(ready_flag.wait(), 20)
        args = (group, "v1", namespace, "widgets")
        custom.create_namespaced_custom_object(
            *args,
            {
                "apiVersion": f"{group}/v1",
                "kind": "Widget",
                "metadata": {"name": "w"},
                "spec": {"size": 1},
            },
        )

        def status() -> dict[str, Any]:
            return custom.get_namespaced_custom_object(*args, "w").get("status") or {}

        done = await eventually(lambda: status().get("created"))
        assert done == {"size": 1}
        widget = custom.get_namespaced_custom_object(*args, "w")
        assert widget["status"]["phase"] == "Created"
        assert widget["metadata"]["finalizers"]

        core = client.CoreV1Api(k8s)
        events = await eventually(
            lambda: [
                e
                for e in core.list_namespaced_event(namespace).items
                if e.involved_object.name == "w" and "created" in (e.message or "")
            ]
        )
        assert events[0].involved_object.kind == "Widget"

        custom.patch_namespaced_custom_object(*args, "w", {"spec": {"size": 3}})
        await eventually(lambda: status().get("size") == 3)

        custom.delete_namespaced_custom_object(*args, "w")

        def gone() -> bool:
            try:
                custom.get_namespaced_custom_object(*args, "w")
            except ApiException as error:
                return error.status == 404
            return False

        await eventually(gone)
        assert deleted == ["w"]
        peering = custom.get_namespaced_custom_object(
            "kopf.dev", "v1", namespace, "kopfpeerings", "default"
        )
        assert peering.get("status"), "kopf never announced itself in the peering object"
    finally:
        stop_flag.set()
        await asyncio.wait_for(operator, 30)
        ext.delete_custom_resource_definition(f"widgets.{group}")
