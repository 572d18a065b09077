"""Finalizers, ownerReference cascades (background, foreground, orphan) and namespace deletion."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `check` until true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.05)


def exists(read: Callable[[], object]) -> bool:
    try:
        read()
    except ApiException as error:
        assert error.status == 404
        return False
    return True


def owner_ref(owner: client.V1ConfigMap) -> dict:
    meta = owner.metadata
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": meta.name, "uid": meta.uid}


def test_finalizers_block_deletion(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "f", "finalizers": ["dask.org/cleanup"]}}
    )
    deleted = core.delete_namespaced_config_map("f", namespace)
    held = core.read_namespaced_config_map("f", namespace)
    assert held.metadata.deletion_timestamp is not None
    assert deleted is not None
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_config_map(
            "f", namespace, {"metadata": {"finalizers": ["dask.org/cleanup", "another"]}}
        )
    assert info.value.status == 422
    # Strategic merge patch merges `finalizers` as a set: an empty list removes nothing.
    unchanged = core.patch_namespaced_config_map("f", namespace, {"metadata": {"finalizers": []}})
    assert unchanged.metadata.finalizers == ["dask.org/cleanup"]
    core.patch_namespaced_config_map("f", namespace, {"metadata": {"finalizers": None}})
    assert not exists(lambda: core.read_namespaced_config_map("f", namespace))


def test_background_cascade(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "child", "ownerReferences": [owner_ref(owner)]}}
    )
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "child", "ownerReferences": [owner_ref(owner)]}}
    )
    core.delete_namespaced_config_map("owner", namespace)
    eventually(lambda: not exists(lambda: core.read_namespaced_config_map("child", namespace)))
    eventually(lambda: not exists(lambda: core.read_namespaced_secret("child", namespace)))


def test_a_dependent_created_after_its_owner_is_gone_is_collected(
    k8s: client.ApiClient, namespace: str
) -> None:
    """A controller that has not yet seen its owner's deletion creates a child of it (the operator
    did, for a DaskCluster deleted by a Ctrl-C just after its creation): kube-controller-manager
    collects a dependent whose owner does not exist, so the stand-in must too. Its collector
    swept only after deletions, and such a child lived on (CI: a worker group, its pods and the
    scheduler's Service left running)."""
    core = client.CoreV1Api(k8s)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "gone"}})
    core.delete_namespaced_config_map("gone", namespace)
    eventually(lambda: not exists(lambda: core.read_namespaced_config_map("gone", namespace)))
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "orphan", "ownerReferences": [owner_ref(owner)]}}
    )
    eventually(
        lambda: not exists(lambda: core.read_namespaced_config_map("orphan", namespace)),
        timeout=60.0,
    )


def test_dependents_with_a_surviving_owner_stay(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    first = core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    second = core.create_namespaced_config_map(namespace, {"metadata": {"name": "b"}})
    refs = [owner_ref(first), owner_ref(second)]
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "c", "ownerReferences": refs}}
    )
    marker = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "m", "ownerReferences": [owner_ref(first)]}}
    )
    assert marker
    core.delete_namespaced_config_map("a", namespace)
    eventually(lambda: not exists(lambda: core.read_namespaced_config_map("m", namespace)))
    assert exists(lambda: core.read_namespaced_config_map("c", namespace))


def test_foreground_waits_for_blocking_dependents(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "o"}})
    blocking = {**owner_ref(owner), "blockOwnerDeletion": True}
    core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "d", "ownerReferences": [blocking], "finalizers": ["x/y"]}},
    )
    core.delete_namespaced_config_map("o", namespace, propagation_policy="Foreground")
    eventually(
        lambda: (
            core.read_namespaced_config_map("d", namespace).metadata.deletion_timestamp is not None
        )
    )
    assert (
        "foregroundDeletion" in core.read_namespaced_config_map("o", namespace).metadata.finalizers
    )
    core.patch_namespaced_config_map("d", namespace, {"metadata": {"finalizers": None}})
    eventually(lambda: not exists(lambda: core.read_namespaced_config_map("o", namespace)))


def test_foreground_does_not_wait_for_a_dependent_that_does_not_block(
    k8s: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(k8s)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "o"}})
    core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "d", "ownerReferences": [owner_ref(owner)], "finalizers": ["x/y"]}},
    )
    core.delete_namespaced_config_map("o", namespace, propagation_policy="Foreground")
    eventually(lambda: not exists(lambda: core.read_namespaced_config_map("o", namespace)))
    # The dependent was deleted as well; its own finalizer holds it.
    assert core.read_namespaced_config_map("d", namespace).metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("d", namespace, {"metadata": {"finalizers": None}})
    eventually(lambda: not exists(lambda: core.read_namespaced_config_map("d", namespace)))


def test_orphan_keeps_dependents(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "o"}})
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "d", "ownerReferences": [owner_ref(owner)]}}
    )
    core.delete_namespaced_config_map("o", namespace, propagation_policy="Orphan")
    # The garbage collector drops the reference, then lets the owner go (both asynchronously).
    eventually(
        lambda: not core.read_namespaced_config_map("d", namespace).metadata.owner_references
    )
    eventually(lambda: not exists(lambda: core.read_namespaced_config_map("o", namespace)))
    assert exists(lambda: core.read_namespaced_config_map("d", namespace))


def test_namespace_deletion_removes_contents(k8s: client.ApiClient) -> None:
    core = client.CoreV1Api(k8s)
    doomed = f"doomed-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": doomed}})
    core.create_namespaced_config_map(
        doomed, {"metadata": {"name": "x", "finalizers": ["dask.org/hold"]}}
    )
    core.create_namespaced_pod(
        doomed, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    )
    core.delete_namespace(doomed)
    assert core.read_namespace(doomed).status.phase == "Terminating"
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map(doomed, {"metadata": {"name": "late"}})
    assert info.value.status == 403
    eventually(lambda: not exists(lambda: core.read_namespaced_pod("p", doomed)))
    core.patch_namespaced_config_map("x", doomed, {"metadata": {"finalizers": None}})
    eventually(lambda: not exists(lambda: core.read_namespace(doomed)), timeout=90)
    assert not exists(lambda: core.read_namespaced_config_map("x", doomed))
