"""What a platform admin reads with kubectl (issue 22), held to kube-apiserver on both planes:
events as kopf writes them, nodes with STATUS/ROLES/VERSION, `kubectl auth can-i`, and the STATUS
kube-apiserver's pod printer derives from container states (`Completed`, `Error`, `OOMKilled`...).
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from api_support import eventually
from control_planes import Endpoint
from kubernetes import client
from node_support import BY_HAND, WAIT, Node, bind
from test_kubectl import kubectl
from test_table import get_table

from dask_kubernetes.common import clock

EXIT = WAIT + "sys.exit(int(sys.argv[2]))\n"  # until `finish`, then exit with argv[2]
AGE = re.compile(r"^\d+s$")  # a fresh object's age in kube-apiserver's HumanDuration


def test_kubectl_get_events_as_kopf_writes_them(
    kubeconfig: Path, k8s: client.ApiClient, namespace: str
) -> None:
    """kopf posts times with microseconds and `+00:00`; the server stores them in its own
    forms (Time: whole seconds, MicroTime: microseconds, both `Z`) and prints the event."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=123456)
    stamp = now.isoformat()  # '...T..:..:...123456+00:00', as kopf writes it
    assert stamp.endswith(".123456+00:00")
    body = {
        "metadata": {"namespace": namespace, "generateName": "kopf-event-"},
        "action": "Action?",
        "type": "Normal",
        "reason": "Logging",
        "message": "Scheduler pod is Running ",
        "reportingComponent": "kopf",
        "reportingInstance": "dev",
        "source": {"component": "kopf"},
        "involvedObject": {
            "apiVersion": "kubernetes.dask.org/v1",
            "kind": "DaskCluster",
            "name": "simple",
            "uid": str(uuid.uuid4()),
            "namespace": namespace,
        },
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "eventTime": stamp,
    }
    core = client.CoreV1Api(k8s)
    # The body as JSON, unchanged (the client's models would re-format the times).
    response = core.create_namespaced_event(namespace, body, _preload_content=False)
    created = json.loads(response.data)
    assert created["lastTimestamp"] == now.strftime(clock.FORMAT)
    assert created["firstTimestamp"] == now.strftime(clock.FORMAT)
    assert created["eventTime"] == now.strftime(clock.MICRO_FORMAT)
    listed = kubectl(kubeconfig, "get", "events", "-n", namespace).stdout.splitlines()
    assert listed[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    [row] = listed[1:]
    seen, *rest = row.split(maxsplit=4)
    assert AGE.match(seen), row
    assert rest == ["Normal", "Logging", "daskcluster/simple", "Scheduler pod is Running"]
    wide = kubectl(kubeconfig, "get", "events", "-n", namespace, "-o", "wide").stdout
    assert wide.splitlines()[0].split() == [
        *("LAST", "SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE"),
        *("FIRST", "SEEN", "COUNT", "NAME"),
    ]
    assert wide.splitlines()[1].split()[-2:] == ["1", created["metadata"]["name"]]


def _node(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """A Node nobody runs: cordoned, and tainted so no scheduler binds to it uncordoned either."""
    taint = {"key": "dask.org/no-kubelet", "effect": "NoSchedule"}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"unschedulable": True, "taints": [taint]},
    }


def test_kubectl_get_nodes_shows_status_roles_and_version(
    kubeconfig: Path, k8s: client.ApiClient
) -> None:
    core = client.CoreV1Api(k8s)
    suffix = uuid.uuid4().hex[:6]
    roles = {"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": ""}
    ready, broken, silent = f"t-ready-{suffix}", f"t-notready-{suffix}", f"t-new-{suffix}"
    made = []
    try:
        for name, labels, condition in (
            (ready, roles, "True"),
            (broken, {"kubernetes.io/role": "edge"}, "False"),
            (silent, {}, None),
        ):
            core.create_node(_node(name, labels))
            made.append(name)
            if condition is not None:
                status = {
                    "conditions": [{"type": "Ready", "status": condition, "reason": "Test"}],
                    "nodeInfo": {"kubeletVersion": "v1.37.2"},
                }
                core.patch_node_status(name, {"status": status}, _preload_content=False)
        rows = {
            line.split()[0]: line.split()[1:]
            for line in kubectl(kubeconfig, "get", "nodes").stdout.splitlines()
        }
        assert rows["NAME"] == ["STATUS", "ROLES", "AGE", "VERSION"]
        status, role, age, version = rows[ready]
        assert (status, role, version) == (
            "Ready,SchedulingDisabled",
            "control-plane,worker",
            "v1.37.2",
        )
        assert AGE.match(age)
        assert rows[broken][:2] == ["NotReady,SchedulingDisabled", "edge"]
        assert rows[broken][3] == "v1.37.2"
        # No Ready condition, no kubelet version (an empty cell): Unknown.
        assert rows[silent][:2] == ["Unknown,SchedulingDisabled", "<none>"]
        assert len(rows[silent]) == 3
        # Uncordoned, the node is just Ready.
        core.patch_node(ready, {"spec": {"unschedulable": False}}, _preload_content=False)
        line = kubectl(kubeconfig, "get", "node", ready, "--no-headers").stdout.split()
        assert line[1] == "Ready"
        core.patch_node(ready, {"spec": {"unschedulable": True}}, _preload_content=False)
        wide = kubectl(kubeconfig, "get", "nodes", "-o", "wide").stdout.splitlines()
        assert wide[0].split()[5:] == [
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME",
        ]
    finally:
        for name in made:
            core.delete_node(name)


def test_kubectl_auth_can_i_answers_for_the_admin(kubeconfig: Path, namespace: str) -> None:
    """`kubectl auth can-i` creates a SelfSubjectAccessReview; the admin may do anything."""
    for args in (
        ("create", "pods"),
        ("delete", "daskclusters.kubernetes.dask.org"),
        ("create", "serviceaccounts/token"),
        ("*", "*"),
    ):
        done = kubectl(kubeconfig, "auth", "can-i", *args, "-n", namespace, check=False)
        assert (done.returncode, done.stdout) == (0, "yes\n"), done.stderr
    done = kubectl(kubeconfig, "auth", "can-i", "get", "/healthz", check=False)
    assert (done.returncode, done.stdout) == (0, "yes\n"), done.stderr


def test_a_review_is_create_only(endpoint: Endpoint) -> None:
    import urllib.error
    import urllib.request

    url = f"{endpoint.url}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    with pytest.raises(urllib.error.HTTPError) as refused:
        endpoint.open(urllib.request.Request(url), timeout=10)
    assert refused.value.code == 405


FINISHED_AT = "2026-01-01T00:00:00Z"


def _container_status(state: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "name": "main",
        "image": "ghcr.io/dask/dask",
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "state": state,
        **more,
    }


def _terminated(code: int, reason: str | None = None) -> dict[str, Any]:
    terminated: dict[str, Any] = {"exitCode": code, "finishedAt": FINISHED_AT}
    if reason is not None:
        terminated["reason"] = reason
    return {"terminated": terminated}


# (pod status a kubelet reports, with init containers?) -> (READY, STATUS) kube-apiserver prints.
STATUS_CASES: dict[str, tuple[dict[str, Any], bool, tuple[str, str]]] = {
    "completed": (
        {
            "phase": "Succeeded",
            "containerStatuses": [_container_status(_terminated(0, "Completed"))],
        },
        False,
        ("0/1", "Completed"),
    ),
    "error": (
        {"phase": "Failed", "containerStatuses": [_container_status(_terminated(1, "Error"))]},
        False,
        ("0/1", "Error"),
    ),
    "oom-killed": (
        {
            "phase": "Failed",
            "containerStatuses": [_container_status(_terminated(137, "OOMKilled"))],
        },
        False,
        ("0/1", "OOMKilled"),
    ),
    "no-reason": (
        {"phase": "Failed", "containerStatuses": [_container_status(_terminated(2))]},
        False,
        ("0/1", "ExitCode:2"),
    ),
    "running": (
        {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                _container_status({"running": {"startedAt": FINISHED_AT}}, ready=True)
            ],
        },
        False,
        ("1/1", "Running"),
    ),
    "crash-loop": (
        {
            "phase": "Running",
            "containerStatuses": [
                _container_status(
                    {"waiting": {"reason": "CrashLoopBackOff"}},
                    restartCount=3,
                    lastState=_terminated(1, "Error"),
                )
            ],
        },
        False,
        ("0/1", "CrashLoopBackOff"),
    ),
    "init-error": (
        {
            "phase": "Pending",
            "initContainerStatuses": [
                _container_status(_terminated(1, "Error")) | {"name": "setup"}
            ],
            "containerStatuses": [_container_status({"waiting": {"reason": "PodInitializing"}})],
        },
        True,
        ("0/1", "Init:Error"),
    ),
    "init-running": (
        {
            "phase": "Pending",
            "initContainerStatuses": [
                _container_status({"running": {"startedAt": FINISHED_AT}}) | {"name": "setup"}
            ],
            "containerStatuses": [_container_status({"waiting": {"reason": "PodInitializing"}})],
        },
        True,
        ("0/1", "Init:0/1"),
    ),
}


@pytest.mark.parametrize("case", sorted(STATUS_CASES))
def test_pod_status_column_is_derived_from_container_states(
    endpoint: Endpoint, k8s: client.ApiClient, namespace: str, case: str
) -> None:
    """The pod printer's STATUS is the container's reason, not the phase: upstream's own tests
    wait for `Completed` and `Error` in `kubectl get pods` (test_job, test_failed_job)."""
    status, with_init, (ready, shown) = STATUS_CASES[case]
    core = client.CoreV1Api(k8s)
    spec: dict[str, Any] = {
        "schedulerName": BY_HAND,
        "restartPolicy": "Never" if status["phase"] in ("Succeeded", "Failed") else "Always",
        "containers": [{"name": "main", "image": "ghcr.io/dask/dask"}],
    }
    if with_init:
        spec["initContainers"] = [{"name": "setup", "image": "ghcr.io/dask/dask"}]
    core.create_namespaced_pod(namespace, {"metadata": {"name": case}, "spec": spec})
    bind(core, namespace, case)
    core.patch_namespaced_pod_status(case, namespace, {"status": status})
    table = get_table(endpoint, f"{endpoint.url}/api/v1/namespaces/{namespace}/pods/{case}")
    names = [c["name"] for c in table["columnDefinitions"]][:4]
    assert names == ["Name", "Ready", "Status", "Restarts"]
    [row] = table["rows"]
    assert row["cells"][1:3] == [ready, shown]
    if case == "crash-loop":
        assert re.match(r"^3 \(\d+[dhms]\w* ago\)$", row["cells"][3]), row["cells"][3]
    if status["phase"] == "Succeeded":
        assert row["conditions"] == [
            {
                "type": "Completed",
                "status": "True",
                "reason": "Succeeded",
                "message": "The pod has completed successfully.",
            }
        ]


def test_a_deleted_running_pod_is_terminating(
    endpoint: Endpoint, k8s: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(k8s)
    spec = {"schedulerName": BY_HAND, "containers": [{"name": "main", "image": "i"}]}
    core.create_namespaced_pod(namespace, {"metadata": {"name": "going"}, "spec": spec})
    bind(core, namespace, "going")
    core.patch_namespaced_pod_status("going", namespace, {"status": {"phase": "Running"}})
    core.delete_namespaced_pod("going", namespace)
    table = get_table(endpoint, f"{endpoint.url}/api/v1/namespaces/{namespace}/pods/going")
    assert table["rows"][0]["cells"][2] == "Terminating"


def test_finished_pods_show_completed_and_error(
    kubeconfig: Path, k8s: client.ApiClient, node: Node, namespace: str
) -> None:
    """What upstream's test_job and test_failed_job wait for, with the node running the pods
    (our kubelet on the real plane writes the terminated reasons kube-apiserver prints)."""
    core = client.CoreV1Api(k8s)
    for name, code in (("done", 0), ("failed", 3)):
        marker = str(node.marker(namespace, name, "main.done"))
        container = node.container(namespace, name, "main", EXIT, marker, str(code))
        pod = {
            "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": [container]},
        }
        core.create_namespaced_pod(namespace, pod)
        node.start(core, namespace, name, ready=False)
        node.exit(core, namespace, name, code)

    def statuses() -> dict[str, str] | None:
        lines = kubectl(kubeconfig, "get", "pods", "-n", namespace, "--no-headers").stdout
        found = {line.split()[0]: line.split()[2] for line in lines.splitlines()}
        return found if found == {"done": "Completed", "failed": "Error"} else None

    eventually(statuses, "kubectl to show Completed and Error", timeout=60)
