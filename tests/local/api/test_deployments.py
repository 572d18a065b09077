"""The stand-in's tiny Deployment controller: pods from the template, scaling, status, cascade."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

pytestmark = pytest.mark.usefixtures("standin")


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.05)
    return result


def deployment(replicas: int, image: str = "ghcr.io/dask/dask") -> dict:
    return {
        "metadata": {"name": "scheduler"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "sched"}},
            "template": {
                "metadata": {"labels": {"app": "sched"}},
                "spec": {"containers": [{"name": "scheduler", "image": image}]},
            },
        },
    }


def test_deployment_pods_follow_replicas_and_template(
    k8s: client.ApiClient, namespace: str
) -> None:
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    made = apps.create_namespaced_deployment(namespace, deployment(2))

    def pods() -> list[Any]:
        items = core.list_namespaced_pod(namespace, label_selector="app=sched").items
        return [p for p in items if p.metadata.deletion_timestamp is None]

    first = eventually(lambda: len(pods()) == 2 and pods())
    assert all(p.metadata.owner_references[0].uid == made.metadata.uid for p in first)
    assert all(p.spec.containers[0].image == "ghcr.io/dask/dask" for p in first)
    apps.patch_namespaced_deployment_scale("scheduler", namespace, {"spec": {"replicas": 3}})
    eventually(lambda: len(pods()) == 3)
    eventually(
        lambda: (apps.read_namespaced_deployment("scheduler", namespace).status.replicas or 0) == 3
    )
    apps.patch_namespaced_deployment(
        "scheduler",
        namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "scheduler", "image": "other"}]}}}},
    )
    eventually(lambda: {p.spec.containers[0].image for p in pods()} == {"other"})
    apps.delete_namespaced_deployment("scheduler", namespace)
    eventually(lambda: pods() == [])
