"""`pods/log` serves init containers too (`?container=<init container>`), as a real server does."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException
from node_support import Node


def two_container_pod(node: Node, namespace: str, name: str) -> Any:
    return {
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "initContainers": [node.container(namespace, name, "setup")],
            "containers": [
                node.container(namespace, name, "main"),
                node.container(namespace, name, "sidecar"),
            ],
        },
    }


def test_init_container_logs(k8s: client.ApiClient, node: Node, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, two_container_pod(node, namespace, "initlog"))
    node.finish_init(core, namespace, "initlog", "setup")
    node.write_log(namespace, "initlog", "setup", "installing\ndone\n")
    logs = core.read_namespaced_pod_log("initlog", namespace, container="setup")
    assert logs == "installing\ndone\n"
    assert core.read_namespaced_pod_log("initlog", namespace, container="setup", tail_lines=1) == (
        "done\n"
    )
    with pytest.raises(ApiException) as unnamed:
        core.read_namespaced_pod_log("initlog", namespace)
    assert unnamed.value.status == 400
    assert "must be specified for pod initlog, choose one of: [setup main sidecar]" in str(
        unnamed.value.body
    )


def test_follow_ends_when_the_init_container_terminated(
    k8s: client.ApiClient, node: Node, namespace: str
) -> None:
    """The pod runs on; the init container's log ends with the container."""
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, two_container_pod(node, namespace, "initdone"))
    node.finish_init(core, namespace, "initdone", "setup")
    node.write_log(namespace, "initdone", "setup", "finished\n")
    followed = core.read_namespaced_pod_log(
        "initdone", namespace, container="setup", follow=True, _request_timeout=10
    )
    assert followed == "finished\n"
