"""Attacks on the process node: pods asking for what it used to accept and silently ignore, and a
pod whose env names another namespace's secret by a path. On each plane our kubelet is the node.

Why: issue #21 — `runAsUser`, `runAsNonRoot`, `readOnlyRootFilesystem`, capabilities,
`hostNetwork` and `hostPath` were ignored (the pod ran as the kubelet's root), and
`secretKeyRef.name: ../../other/secrets/x` read namespace `other`'s secret.
"""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path
from typing import Any

import kr8s
import pytest
from control_planes import require_node
from kr8s.objects import Pod, Secret
from standin_support import api, container_status, logs, python_pod, wait_for, wait_for_phase

REFUSED = "CreateContainerConfigError"
SECRET_VALUE = "the-other-namespaces-secret"

needs_root_kubelet = pytest.mark.skipif(
    os.geteuid() != 0, reason="the kubelet runs in this process: only a root one switches users"
)


def create_pod(cluster: Any, manifest: dict[str, Any]) -> Pod:
    """Create, once the namespace takes pods (a real plane's ServiceAccount admission waits for
    the controller manager to make `default`)."""
    pod = Pod(manifest, api=api(cluster.kubeconfig))

    def created() -> bool:
        try:
            pod.create()
        except kr8s.ServerError as exc:
            if exc.response is not None and exc.response.status_code == 403:
                return False
            raise
        return True

    wait_for(created, f"pod {pod.name} to be created")
    return pod


def waiting_reason(pod: Pod) -> dict[str, Any] | None:
    return container_status(pod).get("state", {}).get("waiting")


def refused(pod: Pod) -> dict[str, Any]:
    """The kubelet's refusal: every container waiting, a condition and a Warning Event."""
    waiting = wait_for(
        lambda: (w := waiting_reason(pod)) and w.get("reason") == REFUSED and w,
        f"pod {pod.name} to be refused",
    )
    assert pod.raw["status"]["phase"] == "Pending"
    assert not container_status(pod).get("containerID"), "a container process was started"
    ready = next(c for c in pod.raw["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["message"] == waiting["message"]
    return dict(waiting)


def warning_events(cluster: Any, pod: Pod) -> list[str]:
    listed = api(cluster.kubeconfig).get("events", namespace=pod.namespace)
    return [
        e.raw.get("message", "")
        for e in listed
        if e.raw["involvedObject"].get("name") == pod.name and e.raw.get("type") == "Warning"
    ]


def assert_refused_naming(cluster: Any, pod: Pod, field: str) -> None:
    waiting = refused(pod)
    assert field in waiting["message"], waiting
    messages = wait_for(lambda: warning_events(cluster, pod), f"a Warning Event for {pod.name}")
    assert any(field in m for m in messages), messages


# -- what a process node cannot honour: refused, naming the field, no process ---------------


def _container(security: dict[str, Any]) -> dict[str, Any]:
    return {"securityContext": security}


CANNOT_HONOUR = {
    "hostNetwork": ({}, {"hostNetwork": True}, "spec.hostNetwork"),
    "hostPID": ({}, {"hostPID": True}, "spec.hostPID"),
    "hostPath": (
        {"volumeMounts": [{"name": "host", "mountPath": "/host"}]},
        {"volumes": [{"name": "host", "hostPath": {"path": "/"}}]},
        "spec.volumes[0].hostPath",
    ),
    "privileged": (
        _container({"privileged": True}),
        {},
        "spec.containers[0].securityContext.privileged",
    ),
    "capabilities.add": (
        _container({"capabilities": {"add": ["NET_ADMIN"]}}),
        {},
        "spec.containers[0].securityContext.capabilities.add",
    ),
}


@pytest.mark.parametrize("case", sorted(CANNOT_HONOUR))
def test_what_a_process_node_cannot_honour_is_refused(
    plane_cluster: Any, plane_namespace: str, tmp_path: Path, case: str
) -> None:
    require_node(plane_cluster)
    container, spec, field = CANNOT_HONOUR[case]
    marker = tmp_path / "ran"
    manifest = python_pod(
        "refused", plane_namespace, f"open({str(marker)!r}, 'w').close()", **container
    )
    manifest["spec"].update(spec)
    pod = create_pod(plane_cluster, manifest)
    assert_refused_naming(plane_cluster, pod, field)
    assert not marker.exists(), "the refused pod's process ran"


@needs_root_kubelet
def test_run_as_non_root_without_a_user_is_refused_by_a_root_kubelet(
    plane_cluster: Any, plane_namespace: str, tmp_path: Path
) -> None:
    require_node(plane_cluster)
    marker = tmp_path / "ran"
    manifest = python_pod("nonroot", plane_namespace, f"open({str(marker)!r}, 'w').close()")
    manifest["spec"]["securityContext"] = {"runAsNonRoot": True}
    pod = create_pod(plane_cluster, manifest)
    assert_refused_naming(plane_cluster, pod, "spec.securityContext.runAsNonRoot")
    assert not marker.exists()


# -- what it honours --------------------------------------------------------------------------

IDENTITY = (
    "import os\n"
    "print(os.getuid(), os.geteuid(), os.getgid(), sorted(os.getgroups()))\n"
    "status = open('/proc/self/status').read().splitlines()\n"
    "print(*[l.split()[1] for l in status if l.startswith(('CapEff', 'CapBnd', 'NoNewPrivs'))])\n"
    "state = os.environ['DASK_K8S_LOCAL_STATE_DIR']\n"
    "for place in (state, state + '/logs', state + '/pods'):\n"
    "    try:\n        os.listdir(place)\n    except PermissionError:\n        print('denied')\n"
    "open(os.environ['KUBECONFIG']).close()\n"  # its own credentials, though
)


@needs_root_kubelet
def test_run_as_user_really_runs_as_that_user(plane_cluster: Any, plane_namespace: str) -> None:
    require_node(plane_cluster)
    manifest = python_pod("nobody", plane_namespace, IDENTITY)
    manifest["spec"]["securityContext"] = {"runAsUser": 1000, "runAsNonRoot": True}
    manifest["spec"]["containers"][0]["securityContext"] = {
        "runAsUser": 65534,  # the container's setting wins over the pod's
        "runAsGroup": 65534,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    pod = create_pod(plane_cluster, manifest)
    assert wait_for_phase(pod, "Succeeded", "Failed", timeout=60) == "Succeeded", logs(pod)
    identity, capabilities, *state_dir = logs(pod).splitlines()
    assert identity == "65534 65534 65534 []"  # none of the root kubelet's groups
    assert capabilities.split() == ["0000000000000000", "0000000000000000", "1"]
    # It reaches what it needs, not the kubelet's state: other pods' logs, the admin's kubeconfig.
    assert state_dir == ["denied"] * 3


@needs_root_kubelet
def test_read_only_root_filesystem_leaves_only_the_pods_own_directory_writable(
    plane_cluster: Any, plane_namespace: str, tmp_path: Path
) -> None:
    require_node(plane_cluster)
    outside = tmp_path / "written-outside"
    code = (
        "import os, tempfile\n"
        "with tempfile.NamedTemporaryFile(dir=os.environ['TMPDIR']) as f: f.write(b'x')\n"
        "print('tmpdir writable')\n"
        f"try:\n    open({str(outside)!r}, 'w')\n"
        "except OSError as e:\n    print('outside', e.strerror)\n"
    )
    manifest = python_pod(
        "readonly", plane_namespace, code, securityContext={"readOnlyRootFilesystem": True}
    )
    manifest["spec"]["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    pod = create_pod(plane_cluster, manifest)
    assert wait_for_phase(pod, "Succeeded", "Failed", timeout=60) == "Succeeded", logs(pod)
    assert logs(pod).splitlines() == ["tmpdir writable", "outside Read-only file system"]
    assert not outside.exists()
    # No seccomp filter here: it runs, and a Warning Event says what it runs without.
    messages = wait_for(lambda: warning_events(plane_cluster, pod), "a Warning Event")
    assert any("spec.securityContext.seccompProfile" in m for m in messages), messages


# -- names that reach API paths ---------------------------------------------------------------

TRAVERSALS = {
    "secretKeyRef": lambda other: {
        "env": [
            {
                "name": "STOLEN",
                "valueFrom": {"secretKeyRef": {"name": f"../../{other}/secrets/x", "key": "k"}},
            }
        ]
    },
    "configMapKeyRef": lambda other: {
        "env": [
            {
                "name": "STOLEN",
                "valueFrom": {"configMapKeyRef": {"name": f"../../{other}/secrets/x", "key": "k"}},
            }
        ]
    },
    "envFrom": lambda other: {"envFrom": [{"secretRef": {"name": f"../../{other}/secrets/x"}}]},
}
FIELDS = {
    "secretKeyRef": "spec.containers[0].env[0].valueFrom.secretKeyRef.name",
    "configMapKeyRef": "spec.containers[0].env[0].valueFrom.configMapKeyRef.name",
    "envFrom": "spec.containers[0].envFrom[0].secretRef.name",
}


@pytest.mark.parametrize("reference", sorted(TRAVERSALS))
def test_an_env_reference_cannot_climb_into_another_namespace(
    plane_cluster: Any, make_namespace: Any, reference: str
) -> None:
    require_node(plane_cluster)
    attacker, victim = make_namespace(plane_cluster), make_namespace(plane_cluster)
    value = base64.b64encode(SECRET_VALUE.encode()).decode()
    Secret(
        {"metadata": {"name": "x", "namespace": victim}, "data": {"k": value}},
        api=api(plane_cluster.kubeconfig),
    ).create()
    print_env = "import os; print(sorted(os.environ.items()))"
    manifest = python_pod(
        f"thief-{uuid.uuid4().hex[:6]}", attacker, print_env, **TRAVERSALS[reference](victim)
    )
    field = FIELDS[reference]
    try:
        pod = create_pod(plane_cluster, manifest)
    except kr8s.ServerError as exc:
        # kube-apiserver validates these names itself: the pod never exists.
        assert exc.response is not None and exc.response.status_code == 422
        assert field.removeprefix("spec.").split("[", 1)[0] in exc.response.text
        return
    assert_refused_naming(plane_cluster, pod, field)
    assert SECRET_VALUE not in logs(pod)
    server = plane_cluster.api_server
    if server is not None:  # the emulator's audit: the kubelet never asked namespace `victim`
        asked = [r for r in server.audit if r.user.startswith("system:node:")]
        assert [r for r in asked if r.namespace == victim] == []
        assert any(r.namespace == attacker and r.resource == "events" for r in asked)
