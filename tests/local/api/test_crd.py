"""CustomResourceDefinitions: discovery, schema admission (422), status and scale subresources."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import kr8s
import pytest
from api_support import eventually
from kubernetes import client
from kubernetes.client.rest import ApiException


def crd_body(group: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"daskclusters.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "plural": "daskclusters",
                "singular": "daskcluster",
                "kind": "DaskCluster",
                "shortNames": ["dsk"],
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.workers",
                            "statusReplicasPath": ".status.workers",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": [
                        {"name": "Workers", "type": "integer", "jsonPath": ".spec.workers"}
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["image"],
                                    "properties": {
                                        "image": {"type": "string"},
                                        "workers": {"type": "integer", "minimum": 0, "default": 2},
                                        "mode": {"type": "string", "enum": ["fast", "slow"]},
                                    },
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


def established(ext: client.ApiextensionsV1Api, name: str) -> bool:
    """A real server establishes a CRD (serves its resources) a moment after creating it."""
    conditions = ext.read_custom_resource_definition(name).status.conditions or []
    return {c.type: c.status for c in conditions}.get("Established") == "True"


def gone(ext: client.ApiextensionsV1Api, name: str) -> bool:
    """Deleting a CRD first deletes its objects (finalizer `customresourcecleanup`), then it."""
    try:
        ext.read_custom_resource_definition(name)
    except ApiException as error:
        assert error.status == 404
        return True
    return False


def create_crd(ext: client.ApiextensionsV1Api, body: dict) -> None:
    ext.create_custom_resource_definition(body)
    name = body["metadata"]["name"]
    eventually(lambda: established(ext, name), f"{name} to be established")


@pytest.fixture
def crd(k8s: client.ApiClient) -> Iterator[str]:
    group = f"t{uuid.uuid4().hex[:6]}.dask.org"
    ext = client.ApiextensionsV1Api(k8s)
    create_crd(ext, crd_body(group))
    yield group
    try:
        ext.delete_custom_resource_definition(f"daskclusters.{group}")
    except ApiException as error:
        assert error.status == 404


def dask_cluster(name: str, **spec: object) -> dict:
    return {"apiVersion": "", "kind": "DaskCluster", "metadata": {"name": name}, "spec": spec}


def test_crd_appears_in_discovery_and_goes_away(k8s: client.ApiClient, crd: str) -> None:
    groups = client.ApisApi(k8s).get_api_versions()
    assert crd in [g.name for g in groups.groups]
    resources = client.CustomObjectsApi(k8s).get_api_resources(crd, "v1")
    assert "daskclusters" in [r.name for r in resources.resources]
    assert "daskclusters/status" in [r.name for r in resources.resources]
    client.ApiextensionsV1Api(k8s).delete_custom_resource_definition(f"daskclusters.{crd}")

    def left_discovery() -> bool:
        return crd not in [g.name for g in client.ApisApi(k8s).get_api_versions().groups]

    eventually(left_discovery, f"{crd} to leave discovery")


def test_crd_status_is_established(k8s: client.ApiClient, crd: str) -> None:
    got = client.ApiextensionsV1Api(k8s).read_custom_resource_definition(f"daskclusters.{crd}")
    assert {c.type: c.status for c in got.status.conditions}["Established"] == "True"


def test_schema_defaults_prunes_and_rejects(
    k8s: client.ApiClient, crd: str, namespace: str
) -> None:
    custom = client.CustomObjectsApi(k8s)
    body = dask_cluster("ok", image="dask", unknown="x")
    body["apiVersion"] = f"{crd}/v1"
    created = custom.create_namespaced_custom_object(crd, "v1", namespace, "daskclusters", body)
    assert created["spec"] == {"image": "dask", "workers": 2}
    bad = dask_cluster("bad", workers=-1, mode="medium")
    bad["apiVersion"] = f"{crd}/v1"
    with pytest.raises(ApiException) as info:
        custom.create_namespaced_custom_object(crd, "v1", namespace, "daskclusters", bad)
    assert info.value.status == 422
    import json

    status = json.loads(info.value.body)
    assert status["reason"] == "Invalid"
    fields = {c["field"] for c in status["details"]["causes"]}
    # `.spec.workers` again: the scale subresource's own check of its replicas path.
    assert fields == {"spec.image", "spec.workers", "spec.mode", ".spec.workers"}
    with pytest.raises(ApiException) as patched:
        custom.patch_namespaced_custom_object(
            crd, "v1", namespace, "daskclusters", "ok", {"spec": {"workers": "many"}}
        )
    assert patched.value.status == 422


def test_status_subresource_and_scale(k8s: client.ApiClient, crd: str, namespace: str) -> None:
    custom = client.CustomObjectsApi(k8s)
    body = dask_cluster("c", image="dask")
    body["apiVersion"] = f"{crd}/v1"
    body["status"] = {"phase": "ignored-on-create"}
    created = custom.create_namespaced_custom_object(crd, "v1", namespace, "daskclusters", body)
    assert "status" not in created
    args = (crd, "v1", namespace, "daskclusters", "c")
    with_status = custom.patch_namespaced_custom_object_status(
        *args, {"status": {"phase": "Running", "workers": 2}, "spec": {"image": "ignored"}}
    )
    assert with_status["status"]["phase"] == "Running"
    assert with_status["spec"]["image"] == "dask"
    assert with_status["metadata"]["generation"] == 1
    main = custom.patch_namespaced_custom_object(
        *args, {"status": {"phase": "x"}, "spec": {"workers": 4}}
    )
    assert main["status"]["phase"] == "Running"
    assert main["metadata"]["generation"] == 2
    scale = custom.get_namespaced_custom_object_scale(*args)
    assert (scale["spec"]["replicas"], scale["status"]["replicas"]) == (4, 2)
    custom.patch_namespaced_custom_object_scale(*args, {"spec": {"replicas": 7}})
    assert custom.get_namespaced_custom_object(*args)["spec"]["workers"] == 7


def test_kr8s_finds_crd_kinds(
    kubeconfig: Path, k8s: client.ApiClient, crd: str, namespace: str
) -> None:
    api = kr8s.api(kubeconfig=str(kubeconfig))
    custom = client.CustomObjectsApi(k8s)
    body = dask_cluster("k", image="dask")
    body["apiVersion"] = f"{crd}/v1"
    custom.create_namespaced_custom_object(crd, "v1", namespace, "daskclusters", body)
    found = list(api.get(f"daskclusters.{crd}", namespace=namespace))
    assert [o.name for o in found] == ["k"]
    assert [r for r in api.api_resources() if r["name"] == "daskclusters"]


def test_deleting_crd_deletes_its_objects(k8s: client.ApiClient, crd: str, namespace: str) -> None:
    custom = client.CustomObjectsApi(k8s)
    body = dask_cluster("gone", image="dask")
    body["apiVersion"] = f"{crd}/v1"
    custom.create_namespaced_custom_object(crd, "v1", namespace, "daskclusters", body)
    ext = client.ApiextensionsV1Api(k8s)
    ext.delete_custom_resource_definition(f"daskclusters.{crd}")
    eventually(lambda: gone(ext, f"daskclusters.{crd}"), "the CRD to be deleted")
    create_crd(ext, crd_body(crd))
    listing = custom.list_namespaced_custom_object(crd, "v1", namespace, "daskclusters")
    assert listing["items"] == []


def test_cluster_scoped_crd(k8s: client.ApiClient) -> None:
    group = f"t{uuid.uuid4().hex[:6]}.kopf.dev"
    body = crd_body(group)
    body["spec"]["scope"] = "Cluster"
    body["spec"]["names"] = {"plural": "peerings", "kind": "Peering"}
    body["metadata"]["name"] = f"peerings.{group}"
    body["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    create_crd(client.ApiextensionsV1Api(k8s), body)
    custom = client.CustomObjectsApi(k8s)
    made = custom.create_cluster_custom_object(
        group,
        "v1",
        "peerings",
        {"apiVersion": f"{group}/v1", "kind": "Peering", "metadata": {"name": "p"}, "x": 1},
    )
    assert made["x"] == 1 and "namespace" not in made["metadata"]
    client.ApiextensionsV1Api(k8s).delete_custom_resource_definition(f"peerings.{group}")


def test_status_updates_are_pruned_and_validated(
    k8s: client.ApiClient, crd: str, namespace: str
) -> None:
    custom = client.CustomObjectsApi(k8s)
    body = dask_cluster("st", image="dask")
    body["apiVersion"] = f"{crd}/v1"
    custom.create_namespaced_custom_object(crd, "v1", namespace, "daskclusters", body)
    args = (crd, "v1", namespace, "daskclusters", "st")
    updated = custom.patch_namespaced_custom_object_status(*args, {"status": {"anything": 1}})
    assert updated["status"] == {"anything": 1}
    with pytest.raises(ApiException) as info:
        custom.patch_namespaced_custom_object_status(*args, {"status": "not-an-object"})
    assert info.value.status == 422
