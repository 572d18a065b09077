"""`pods/log` serves init containers too (`?container=<init container>`), as a real server does."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from dask_kubernetes.local.apiserver import APIServer

pytestmark = pytest.mark.usefixtures("needs_node")


def two_container_pod(name: str) -> Any:
    return {
        "metadata": {"name": name},
        "spec": {
            "initContainers": [{"name": "setup", "image": "ghcr.io/dask/dask"}],
            "containers": [
                {"name": "main", "image": "ghcr.io/dask/dask"},
                {"name": "sidecar", "image": "ghcr.io/dask/dask"},
            ],
        },
    }


def test_init_container_logs(k8s: client.ApiClient, server: APIServer, namespace: str) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, two_container_pod("initlog"))
    directory = server.state_dir / "logs" / namespace / "initlog"
    directory.mkdir(parents=True)
    (directory / "setup.log").write_text("installing\ndone\n")
    logs = core.read_namespaced_pod_log("initlog", namespace, container="setup")
    assert logs == "installing\ndone\n"
    assert core.read_namespaced_pod_log("initlog", namespace, container="setup", tail_lines=1) == (
        "done\n"
    )
    with pytest.raises(ApiException) as unnamed:
        core.read_namespaced_pod_log("initlog", namespace)
    assert unnamed.value.status == 400
    assert "choose one of: [main sidecar] or one of the init containers: [setup]" in str(
        unnamed.value.body
    )


def test_follow_ends_when_the_init_container_terminated(
    k8s: client.ApiClient, server: APIServer, namespace: str
) -> None:
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, two_container_pod("initdone"))
    core.patch_namespaced_pod_status(
        "initdone",
        namespace,
        {
            "status": {
                "phase": "Pending",
                "initContainerStatuses": [
                    {
                        "name": "setup",
                        "image": "ghcr.io/dask/dask",
                        "imageID": "",
                        "restartCount": 0,
                        "ready": False,
                        "state": {"terminated": {"exitCode": 0}},
                    }
                ],
            }
        },
    )
    log = server.state_dir / "logs" / namespace / "initdone" / "setup.log"
    log.parent.mkdir(parents=True)
    log.write_text("finished\n")
    followed = core.read_namespaced_pod_log(
        "initdone", namespace, container="setup", follow=True, _request_timeout=10
    )
    assert followed == "finished\n"
