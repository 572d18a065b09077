"""Per-request cost must not grow with what the cluster holds: counted in stored objects read,
so the test is exact and immune to machine speed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from dask_kubernetes.local.apiserver import APIServer

DEPLOYMENTS = 20
BOUND = 12  # objects a change to one Deployment's world may read, however many others exist
# A new Deployment walks Deployment -> ReplicaSet -> pod and back up through two status writes:
# about 20 reads however many others exist (one listing of the namespace alone would read 20+).
CREATE_BOUND = 24


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "x", "command": ["sleep", "1000"]}]},
            },
        },
    }


def settle(thread: Any, server: APIServer, timeout: float = 10.0) -> None:
    """Wait until the Deployment and ReplicaSet controllers have handled every write so far."""
    deadline = time.monotonic() + timeout
    while thread.call(thread.controllers.pending_events):
        if time.monotonic() > deadline:
            pytest.fail("the controllers did not settle")
        time.sleep(0.01)


def reads_during(thread: Any, server: APIServer, change: Any) -> int:
    settle(thread, server)
    before: int = thread.call(lambda: server.store.objects_read)
    thread.call(change)
    settle(thread, server)
    after: int = thread.call(lambda: server.store.objects_read)
    return after - before


@pytest.fixture
def crowded(private_server: Any) -> tuple[Any, APIServer]:
    """A server with many single-replica Deployments running in one namespace."""
    server = private_server.server
    deployments = server.resources.lookup("apps", "v1", "deployments")
    assert deployments is not None
    for index in range(DEPLOYMENTS):
        body = deployment(f"d{index}")
        private_server.call(lambda body=body: server.objects.create(deployments, "default", body))
    settle(private_server, server)
    pods = server.resources.lookup("", "v1", "pods")
    assert pods is not None
    listed = private_server.call(lambda: server.objects.list(pods, "default"))
    assert len(listed["items"]) == DEPLOYMENTS
    return private_server, server


def test_pod_status_change_reads_only_its_deployment(
    crowded: tuple[Any, APIServer],
) -> None:
    thread, server = crowded
    pods = server.resources.lookup("", "v1", "pods")
    assert pods is not None
    pod = thread.call(lambda: server.objects.list(pods, "default"))["items"][0]
    name = pod["metadata"]["name"]
    status = {"status": {"phase": "Running", "podIP": "127.0.0.9"}}

    def patch_status() -> None:
        content = "application/merge-patch+json"
        server.objects.patch(pods, "default", name, content, status, "status")

    assert reads_during(thread, server, patch_status) <= BOUND


def test_deployment_create_reads_only_its_own_pods(
    crowded: tuple[Any, APIServer],
) -> None:
    thread, server = crowded
    deployments = server.resources.lookup("apps", "v1", "deployments")
    assert deployments is not None

    def create() -> None:
        server.objects.create(deployments, "default", deployment("newcomer"))

    assert reads_during(thread, server, create) <= CREATE_BOUND
    pods = server.resources.lookup("", "v1", "pods")
    assert pods is not None
    listed = thread.call(lambda: server.objects.list(pods, "default"))["items"]
    assert sum(p["metadata"]["name"].startswith("newcomer-") for p in listed) == 1


def test_owner_index_follows_owner_reference_changes(
    crowded: tuple[Any, APIServer],
) -> None:
    """Orphaning drops the index entry, so the ReplicaSet controller replaces the orphaned pod."""
    thread, server = crowded
    deployments = server.resources.lookup("apps", "v1", "deployments")
    replica_sets = server.resources.lookup("apps", "v1", "replicasets")
    pods = server.resources.lookup("", "v1", "pods")
    assert deployments is not None and replica_sets is not None and pods is not None
    owner = thread.call(lambda: server.objects.get(deployments, "default", "d0"))
    deployment_uid = owner["metadata"]["uid"]
    [(_, replica_set)] = thread.call(
        lambda: server.store.dependents(deployment_uid, replica_sets.storage_key)
    )
    uid = replica_set["metadata"]["uid"]
    (_, pod), *_ = thread.call(lambda: server.store.dependents(uid, pods.storage_key))
    patch = {"metadata": {"ownerReferences": None}}
    content = "application/merge-patch+json"
    thread.call(
        lambda: server.objects.patch(pods, "default", pod["metadata"]["name"], content, patch)
    )
    settle(thread, server)
    owned = thread.call(lambda: server.store.dependents(uid, pods.storage_key))
    assert len(owned) == 1
    assert owned[0][1]["metadata"]["name"] != pod["metadata"]["name"]
