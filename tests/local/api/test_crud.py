"""Create/get/list/update/patch/delete through kr8s (sync and async) and the official client."""

from __future__ import annotations

import json
from pathlib import Path

import kr8s
import kr8s.asyncio
import pytest
from kr8s.objects import ConfigMap
from kubernetes import client
from kubernetes.client.rest import ApiException
from node_support import BY_HAND

# kube-controller-manager's root-CA publisher puts this ConfigMap in every namespace of a real
# cluster; the emulator does not (docs/design/local-standin.md, "Differences").
ROOT_CA = "kube-root-ca.crt"


def names(items: list) -> list[str]:
    """Names of the objects the test made (the real cluster's own ConfigMap left out)."""
    return [o.metadata.name for o in items if o.metadata.name != ROOT_CA]


def test_kr8s_sync_round_trip(kubeconfig: Path, namespace: str) -> None:
    api = kr8s.api(kubeconfig=str(kubeconfig))
    cm = ConfigMap(
        {"metadata": {"name": "settings", "labels": {"app": "dask"}}, "data": {"a": "1"}},
        namespace=namespace,
        api=api,
    )
    cm.create()
    assert cm.metadata.uid
    assert cm.metadata.creationTimestamp
    cm.patch({"data": {"b": "2"}})
    fetched = ConfigMap.get("settings", namespace=namespace, api=api)
    assert fetched.raw["data"] == {"a": "1", "b": "2"}
    found = list(api.get("configmaps", namespace=namespace, label_selector={"app": "dask"}))
    assert [o.name for o in found] == ["settings"]
    assert list(api.get("configmaps", namespace=namespace, label_selector={"app": "x"})) == []
    cm.delete()
    assert not cm.exists()


@pytest.mark.asyncio
async def test_kr8s_async_round_trip(kubeconfig: Path, namespace: str) -> None:
    api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
    from kr8s.asyncio.objects import Secret

    secret = await Secret(
        {"metadata": {"name": "s"}, "stringData": {"k": "v"}}, namespace=namespace, api=api
    )
    await secret.create()
    names = [s.name async for s in api.async_get("secrets", namespace=namespace)]
    assert names == ["s"]
    await secret.patch(
        [{"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}], type="json"
    )
    await secret.refresh()
    assert secret.labels == {"x": "y"}
    version = await api.version()
    assert version["major"] == "1"
    await secret.delete()
    assert not await secret.exists()


def test_official_client_semantics(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    created = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "c"}, "data": {"x": "1"}}
    )
    assert created.metadata.generation == 1 or created.metadata.generation is None
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    assert exists.value.status == 409
    assert '"reason":"AlreadyExists"' in exists.value.body

    stale = created.metadata.resource_version
    created.data = {"x": "2"}
    updated = core.replace_namespaced_config_map("c", namespace, created)
    assert int(updated.metadata.resource_version) > int(stale)
    created.data = {"x": "3"}
    created.metadata.resource_version = stale
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("c", namespace, created)
    assert conflict.value.status == 409
    assert '"reason":"Conflict"' in conflict.value.body

    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("nope", namespace)
    assert missing.value.status == 404
    assert '"kind":"Status"' in missing.value.body

    listing = core.list_namespaced_config_map(namespace)
    assert names(listing.items) == ["c"]
    assert int(listing.metadata.resource_version) >= int(updated.metadata.resource_version)


def test_generation_tracks_spec_only(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "g"},
            # the test writes the status: no kubelet of a real plane's node may run this pod
            "spec": {"schedulerName": BY_HAND, "containers": [{"name": "c", "image": "x"}]},
        },
    )
    labelled = core.patch_namespaced_pod("g", namespace, {"metadata": {"labels": {"a": "b"}}})
    assert labelled.metadata.generation == 1
    changed = core.patch_namespaced_pod("g", namespace, {"spec": {"activeDeadlineSeconds": 60}})
    assert changed.metadata.generation == 2
    status = core.patch_namespaced_pod_status("g", namespace, {"status": {"phase": "Running"}})
    assert (status.metadata.generation, status.status.phase) == (2, "Running")
    ignored = core.patch_namespaced_pod("g", namespace, {"status": {"phase": "Failed"}})
    assert ignored.status.phase == "Running"


def test_strategic_merge_patch_from_client(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    ports = [{"port": 80, "name": "http"}]
    core.create_namespaced_service(
        namespace, {"metadata": {"name": "svc"}, "spec": {"selector": {"a": "b"}, "ports": ports}}
    )
    patched = core.patch_namespaced_service(
        "svc", namespace, {"spec": {"ports": [{"port": 8786, "name": "comm"}]}}
    )
    assert sorted(p.port for p in patched.spec.ports) == [80, 8786]


def test_a_service_with_several_ports_must_name_each(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    unnamed = {"metadata": {"name": "two"}, "spec": {"ports": [{"port": 80}, {"port": 8786}]}}
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_service(namespace, unnamed)
    assert refused.value.status == 422
    causes = json.loads(refused.value.body)["details"]["causes"]
    assert {(c["field"], c["reason"]) for c in causes} == {
        ("spec.ports[0].name", "FieldValueRequired"),
        ("spec.ports[1].name", "FieldValueRequired"),
    }
    core.create_namespaced_service(
        namespace, {"metadata": {"name": "one"}, "spec": {"ports": [{"port": 80}]}}
    )
    with pytest.raises(ApiException) as portless:
        core.create_namespaced_service(namespace, {"metadata": {"name": "none"}, "spec": {}})
    causes = json.loads(portless.value.body)["details"]["causes"]
    assert [(c["field"], c["reason"]) for c in causes] == [("spec.ports", "FieldValueRequired")]
    headless = {"clusterIP": "None", "selector": {"app": "x"}}
    core.create_namespaced_service(namespace, {"metadata": {"name": "h"}, "spec": headless})


def test_delete_collection_with_selector(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    for name, role in (("a", "worker"), ("b", "worker"), ("c", "scheduler")):
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": name, "labels": {"role": role}}}
        )
    core.delete_collection_namespaced_config_map(namespace, label_selector="role=worker")
    remaining = core.list_namespaced_config_map(namespace).items
    assert names(remaining) == ["c"]


def test_generate_name_and_field_selector(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    made = core.create_namespaced_config_map(namespace, {"metadata": {"generateName": "cm-"}})
    assert made.metadata.name.startswith("cm-") and len(made.metadata.name) > 3
    found = core.list_namespaced_config_map(
        namespace, field_selector=f"metadata.name={made.metadata.name}"
    )
    assert len(found.items) == 1


def test_invalid_names_and_missing_namespace(k8s: client.ApiClient) -> None:
    core = client.CoreV1Api(k8s)
    with pytest.raises(ApiException) as bad:
        core.create_namespaced_config_map("default", {"metadata": {"name": "Bad_Name"}})
    assert bad.value.status == 422
    with pytest.raises(ApiException) as missing:
        core.create_namespaced_config_map("no-such-ns", {"metadata": {"name": "x"}})
    assert missing.value.status == 404


def test_dry_run_persists_nothing(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    preview = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "dry"}, "data": {"a": "1"}}, dry_run="All"
    )
    assert preview.metadata.uid and preview.data == {"a": "1"}
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("dry", namespace)
    assert missing.value.status == 404
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "dry"}})
    core.delete_namespaced_config_map("dry", namespace, dry_run="All")
    assert core.read_namespaced_config_map("dry", namespace).metadata.name == "dry"
