"""List-then-watch: resume from a resourceVersion, 410 Gone, bookmarks, timeouts, selectors."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import kr8s
import kr8s.asyncio
import pytest
from control_planes import Endpoint
from kubernetes import client, watch
from kubernetes.client.rest import ApiException


def test_watch_resumes_from_list_resource_version(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "before"}})
    listing = core.list_namespaced_config_map(namespace)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "after"}})
    core.patch_namespaced_config_map("after", namespace, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("before", namespace)
    seen = []
    for event in watch.Watch().stream(
        core.list_namespaced_config_map,
        namespace,
        resource_version=listing.metadata.resource_version,
        timeout_seconds=1,
    ):
        seen.append((event["type"], event["object"].metadata.name))
    assert seen == [("ADDED", "after"), ("MODIFIED", "after"), ("DELETED", "before")]


def test_watch_without_version_starts_with_current_state(
    k8s: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "a", "labels": {"x": "1"}}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "b"}})
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map, namespace, label_selector="x=1", timeout_seconds=1
        )
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "a")]


def test_live_events_arrive_with_selectors(k8s: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    seen: list[str] = []
    ready = threading.Event()

    def consume() -> None:
        stream = watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            resource_version=start,
            field_selector="metadata.name=wanted",
            timeout_seconds=5,
        )
        ready.set()
        for event in stream:
            seen.append(event["object"].metadata.name)
            break

    consumer = threading.Thread(target=consume)
    consumer.start()
    ready.wait(5)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "unwanted"}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "wanted"}})
    consumer.join(10)
    assert seen == ["wanted"]


def test_too_old_resource_version_is_gone(private_kubeconfig: Path) -> None:
    from kubernetes import config

    api = config.new_client_from_config(str(private_kubeconfig))
    core = client.CoreV1Api(api)
    old = core.list_namespaced_config_map("default").metadata.resource_version
    for index in range(30):  # history_size is 20
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c{index}"}})
    with pytest.raises(ApiException) as info:
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=old, timeout_seconds=1
        ):
            pass
    assert info.value.status == 410
    api.close()


def _raw_watch(endpoint: Endpoint, url: str, query: str, limit: int) -> list[dict]:
    lines = []
    request = urllib.request.Request(f"{url}?watch=true&{query}")
    with endpoint.open(request, timeout=10) as response:
        for line in response:
            lines.append(json.loads(line))
            if len(lines) >= limit:
                break
    return lines


def test_bookmarks_when_asked(endpoint: Endpoint, namespace: str, standin: object) -> None:
    """The emulator's bookmark interval is configurable (0.2 s here); kube-apiserver sends one
    about once a minute, too slow to wait for (docs/design/local-standin.md, "Differences")."""
    url = f"{endpoint.url}/api/v1/namespaces/{namespace}/configmaps"
    with endpoint.open(url, timeout=10) as response:
        version = json.load(response)["metadata"]["resourceVersion"]
    events = _raw_watch(endpoint, url, f"resourceVersion={version}&allowWatchBookmarks=true", 1)
    assert events[0]["type"] == "BOOKMARK"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= int(version)


def test_timeout_seconds_ends_the_stream(endpoint: Endpoint, namespace: str) -> None:
    url = f"{endpoint.url}/api/v1/namespaces/{namespace}/configmaps"
    with endpoint.open(url, timeout=10) as response:
        version = json.load(response)["metadata"]["resourceVersion"]
    started = time.monotonic()
    events = _raw_watch(endpoint, url, f"resourceVersion={version}&timeoutSeconds=1", 100)
    assert events == []
    assert time.monotonic() - started < 8


def test_timeout_seconds_is_whole_seconds(endpoint: Endpoint, namespace: str) -> None:
    url = f"{endpoint.url}/api/v1/namespaces/{namespace}/configmaps"
    with pytest.raises(urllib.error.HTTPError) as refused:
        _raw_watch(endpoint, url, "timeoutSeconds=0.5", 1)
    assert refused.value.code == 400


@pytest.mark.asyncio
async def test_kr8s_async_watch_from_version(kubeconfig: Path, namespace: str) -> None:
    api = await kr8s.asyncio.api(kubeconfig=str(kubeconfig))
    from kr8s.asyncio.objects import ConfigMap

    marker = await ConfigMap({"metadata": {"name": "marker"}}, namespace=namespace, api=api)
    await marker.create()
    since = marker.metadata.resourceVersion
    cm = await ConfigMap({"metadata": {"name": "w"}}, namespace=namespace, api=api)
    await cm.create()
    await cm.delete()
    seen = []
    events = api.async_watch("configmaps", namespace=namespace, since=since)
    async with contextlib.aclosing(events):
        async for event_type, obj in events:
            seen.append((event_type, obj.name))
            if event_type == "DELETED":
                break
    assert seen == [("ADDED", "w"), ("DELETED", "w")]


def test_objects_entering_and_leaving_a_selection(k8s: client.ApiClient, namespace: str) -> None:
    """A label change moves an object in (ADDED) and out (DELETED) of a filtered watch."""
    core = client.CoreV1Api(k8s)
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "m"}})
    core.patch_namespaced_config_map("m", namespace, {"metadata": {"labels": {"role": "w"}}})
    core.patch_namespaced_config_map("m", namespace, {"data": {"k": "v"}})
    core.patch_namespaced_config_map("m", namespace, {"metadata": {"labels": {"role": "s"}}})
    events = [
        e["type"]
        for e in watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            resource_version=start,
            label_selector="role=w",
            timeout_seconds=1,
        )
    ]
    assert events == ["ADDED", "MODIFIED", "DELETED"]
