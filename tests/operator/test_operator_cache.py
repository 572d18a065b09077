"""The operator's cache: write expectations, and ghosts a re-listing watch leaves in the index."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from operator_examples import local_cluster

from dask_kubernetes.operator.controller import cluster as cluster_handlers
from dask_kubernetes.operator.controller.kit import cache
from dask_kubernetes.operator.controller.kit.cache import Expectations, Ghosts, Views
from dask_kubernetes.operator.controller.kit.runtime import Runtime
from dask_kubernetes.operator.controller.kit.status import StatusWriter

LABELS = {"dask.org/workergroup-name": "g"}


def _pod(name: str, *, terminating: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(LABELS)}
    if terminating:
        meta["deletionTimestamp"] = "2026-11-26T00:00:00Z"
    return {"metadata": meta, "status": {"phase": "Running"}}


def _names(pods: list[dict[str, Any]]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def test_created_pods_count_until_the_cache_shows_them() -> None:
    expect = Expectations()
    expect.created("wg/ns/g", ["g-worker-0", "g-worker-1"])
    # The watch has delivered one of the two creations so far.
    pods = expect.apply("wg/ns/g", [_pod("g-worker-0")], LABELS)
    assert _names(pods) == ["g-worker-0", "g-worker-1"]
    placeholder = pods[1]
    assert placeholder["status"] == {} and placeholder["metadata"]["labels"] == LABELS
    # Once it shows both, nothing is added twice, and the expectation is settled.
    both = [_pod("g-worker-0"), _pod("g-worker-1")]
    assert _names(expect.apply("wg/ns/g", both, LABELS)) == _names(both)
    assert _names(expect.apply("wg/ns/g", [], LABELS)) == []


def test_deleted_pods_stop_counting_before_the_cache_marks_them() -> None:
    expect = Expectations()
    observed = [_pod("g-worker-0"), _pod("g-worker-1")]
    expect.deleted("wg/ns/g", ["g-worker-1"])
    assert _names(expect.apply("wg/ns/g", observed, LABELS)) == ["g-worker-0"]
    # The cache now shows it terminating: the caller's own filter takes over from here.
    marked = [_pod("g-worker-0"), _pod("g-worker-1", terminating=True)]
    assert _names(expect.apply("wg/ns/g", marked, LABELS)) == ["g-worker-0", "g-worker-1"]
    # A later Pod of the same name (recreated) is not hidden by the settled expectation.
    assert _names(expect.apply("wg/ns/g", observed, LABELS)) == ["g-worker-0", "g-worker-1"]


def test_expectations_expire_so_a_missed_event_cannot_hide_a_pod_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
    expect = Expectations(ttl=30.0)
    expect.created("wg/ns/g", ["g-worker-5"])
    expect.deleted("wg/ns/g", ["g-worker-0"])
    observed = [_pod("g-worker-0")]
    assert _names(expect.apply("wg/ns/g", observed, LABELS)) == ["g-worker-5"]
    clock[0] += 31
    assert _names(expect.apply("wg/ns/g", observed, LABELS)) == ["g-worker-0"]


def test_owners_are_kept_apart_and_stale_ones_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
    expect = Expectations(ttl=30.0)
    expect.created("wg/ns/a", ["a-worker-0"])
    assert expect.apply("wg/ns/b", [], LABELS) == []
    clock[0] += 31
    expect.created("wg/ns/b", ["b-worker-0"])  # prunes the expired owner "a"
    assert "wg/ns/a" not in expect._created
    assert _names(expect.apply("wg/ns/b", [], LABELS)) == ["b-worker-0"]


def test_the_pod_index_keeps_only_what_reconciles_read() -> None:
    body = {
        "metadata": {
            "name": "c-scheduler",
            "namespace": "ns",
            "labels": {"dask.org/cluster-name": "c"},
            "annotations": {"big": "x" * 10_000},
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {"containers": [{"name": "scheduler", "image": "x"}]},
        "status": {
            "phase": "Running",
            "podIP": "127.0.0.9",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    slim = cache._slim_pod(body)
    assert slim["metadata"] == {
        "name": "c-scheduler",
        "namespace": "ns",
        "uid": None,
        "labels": {"dask.org/cluster-name": "c"},
        "deletionTimestamp": None,
    }
    assert slim["status"]["podIP"] == "127.0.0.9" and "spec" not in slim


def _with_uid(name: str, uid: str) -> dict[str, Any]:
    pod = _pod(name)
    pod["metadata"]["uid"] = uid
    return pod


def test_ghosts_hide_what_the_index_kept_after_the_server_deleted_it() -> None:
    ghosts = Ghosts()
    index_before_list = [_with_uid("w-0", "u0"), _with_uid("w-1", "u1")]
    listed = [_with_uid("w-0", "u0")]  # w-1 was deleted while the watch was gone
    ghosts.record(index_before_list, listed)
    later_index = [_with_uid("w-0", "u0"), _with_uid("w-1", "u1"), _with_uid("w-1", "u9")]
    # The stale entry is hidden; a new Pod reusing the name (new uid) is not.
    assert [p["metadata"]["uid"] for p in ghosts.hide(later_index)] == ["u0", "u9"]


def test_a_pod_created_during_the_list_is_not_a_ghost() -> None:
    ghosts = Ghosts()
    ghosts.record([_with_uid("w-0", "u0")], [_with_uid("w-0", "u0")])
    # w-1 reached the index after the LIST was sent, so the LIST may lack it: not judged.
    assert len(ghosts.hide([_with_uid("w-0", "u0"), _with_uid("w-1", "u1")])) == 2


def test_resync_is_due_once_per_interval_per_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
    ghosts = Ghosts(every=60.0)
    assert not ghosts.due("ns/a")  # the index is fresh: the first check comes a minute later
    clock[0] += 30
    assert not ghosts.due("ns/a") and not ghosts.due("ns/b")
    clock[0] += 31
    assert ghosts.due("ns/a") and not ghosts.due("ns/a")
    assert not ghosts.due("ns/b")
    clock[0] += 30
    assert ghosts.due("ns/b")


class _RecordingKube:
    def __init__(self) -> None:
        self.patches: list[tuple[str, dict[str, Any]]] = []

    async def patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.patches.append((path, patch))
        await asyncio.sleep(0)  # a real request suspends: let a concurrent writer run
        return {}


@pytest.mark.asyncio
async def test_status_writer_does_not_repeat_its_own_write_from_a_stale_body() -> None:
    kube = _RecordingKube()
    writer = StatusWriter()
    stale = {"metadata": {"uid": "u1"}, "status": {"replicas": 1}}
    desired = {"replicas": 200, "reason": ""}
    assert await writer.write(kube, "/g", stale, desired)  # type: ignore[arg-type]
    # A timer holding the same stale body computes the same change: nothing is sent twice.
    assert not await writer.write(kube, "/g", stale, desired)  # type: ignore[arg-type]
    assert kube.patches == [("/g/status", {"status": {"replicas": 200, "reason": ""}})]
    # A real change still goes out, and only the changed field.
    assert await writer.write(kube, "/g", stale, {"replicas": 3, "reason": ""})  # type: ignore[arg-type]
    assert kube.patches[-1] == ("/g/status", {"status": {"replicas": 3}})


@pytest.mark.asyncio
async def test_concurrent_writers_send_one_patch() -> None:
    """The event handler and the timer finishing together write the change once."""
    kube = _RecordingKube()
    writer = StatusWriter()
    stale = {"metadata": {"uid": "u1"}, "status": {"replicas": 0}}
    sent = await asyncio.gather(
        writer.write(kube, "/g", stale, {"replicas": 200}),  # type: ignore[arg-type]
        writer.write(kube, "/g", stale, {"replicas": 200}),  # type: ignore[arg-type]
    )
    assert sorted(sent) == [False, True] and len(kube.patches) == 1


class _FakeKube(_RecordingKube):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def list(self, path: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        self.calls.append(f"LIST {path}")
        return []  # the server lost every Pod the index still shows

    async def create(self, path: str, manifest: dict[str, Any]) -> bool:
        self.calls.append(f"POST {path}")
        return False  # 409: it exists


@pytest.mark.asyncio
async def test_resync_lists_pods_and_recreates_children_the_cache_may_wrongly_hold() -> None:

    kube = _FakeKube()
    rt = Runtime(kube)  # type: ignore[arg-type]
    rt.ghosts = Ghosts(every=0.0)
    stale_pod = _with_uid("c-default-worker-0", "u0")
    views = Views(
        pods={("ns", "c"): [stale_pod]},  # type: ignore[arg-type]
        services={("ns", "c-scheduler"): [{}]},  # type: ignore[arg-type]
        clusters={},  # type: ignore[arg-type]
        groups={("ns", "c-default"): [{}]},  # type: ignore[arg-type]
    )
    body = local_cluster("c")
    body["metadata"] |= {"namespace": "ns", "uid": "cu"}
    body |= {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster"}
    body["status"] = {"phase": "Running"}
    await cluster_handlers._resync(rt, views, body)  # first call: the index is fresh
    assert kube.calls == []
    await cluster_handlers._resync(rt, views, body)
    assert kube.calls == [
        "LIST /api/v1/namespaces/ns/pods",
        "POST /api/v1/namespaces/ns/services",
        "POST /apis/kubernetes.dask.org/v1/namespaces/ns/daskworkergroups",
    ]
    assert rt.ghosts.hide([stale_pod]) == []
