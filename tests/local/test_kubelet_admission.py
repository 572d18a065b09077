"""What the process node honours of a pod's security settings, and what it refuses naming the
field: decided as a pure function of the pod and of who the kubelet is (root or not), so each
rule is checked here for both; tests/local/test_standin_pod_security.py runs real pods.

Why: issue #21 — the kubelet accepted `runAsUser`, `runAsNonRoot`, `readOnlyRootFilesystem`,
capabilities, `hostNetwork` and `hostPath` and silently ignored them.
"""

from __future__ import annotations

from typing import Any

import pytest

from dask_kubernetes.local.kubelet.admission import (
    Kubelet,
    PodRefused,
    admit,
    pod_user,
    refusal_event,
    refused_status,
    unenforced,
)
from dask_kubernetes.local.kubelet.confinement import Confinement, last_capability

ROOT = Kubelet(0, 0, frozenset({0}))
USER = Kubelet(1000, 1000, frozenset({1000, 20}))
POD_DIR = ("/state/pods/ns/p",)


def pod(container: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
        "spec": {
            "containers": [{"name": "main", "image": "python:3", **(container or {})}],
            **spec,
        },
    }


def refused(manifest: dict[str, Any], kubelet: Kubelet) -> PodRefused:
    with pytest.raises(PodRefused) as caught:
        admit(manifest, POD_DIR, kubelet)
    return caught.value


def test_a_plain_pod_runs_as_the_kubelet_does() -> None:
    for kubelet in (ROOT, USER):
        assert admit(pod(), POD_DIR, kubelet) == {"main": Confinement()}


def test_run_as_user_switches_when_root_container_over_pod() -> None:
    manifest = pod(
        {"securityContext": {"runAsUser": 65534}},
        securityContext={"runAsUser": 1000, "runAsGroup": 3000, "supplementalGroups": [4000]},
    )
    [confinement] = admit(manifest, POD_DIR, ROOT).values()
    assert (confinement.uid, confinement.gid, confinement.groups) == (65534, 3000, (4000,))
    assert pod_user({"main": confinement}) == (65534, 3000)


def test_run_as_user_without_group_takes_the_users_group_else_0() -> None:
    [nobody] = admit(pod(securityContext={"runAsUser": 65534}), POD_DIR, ROOT).values()
    assert nobody.gid == 65534 and nobody.groups == ()  # the root kubelet's groups are not kept
    [unknown] = admit(pod(securityContext={"runAsUser": 4242}), POD_DIR, ROOT).values()
    assert unknown.gid == 0


def test_a_kubelet_that_is_not_root_cannot_switch_users_so_it_refuses() -> None:
    assert admit(pod(securityContext={"runAsUser": 1000}), POD_DIR, USER)["main"].uid is None
    problem = refused(pod({"securityContext": {"runAsUser": 65534}}), USER)
    assert problem.field == "spec.containers[0].securityContext.runAsUser"
    assert refused(pod(securityContext={"runAsGroup": 5}), USER).field == (
        "spec.securityContext.runAsGroup"
    )
    assert refused(pod(securityContext={"fsGroup": 5}), USER).field == (
        "spec.securityContext.fsGroup"
    )
    assert admit(pod(securityContext={"supplementalGroups": [20]}), POD_DIR, USER)


def test_run_as_non_root_is_refused_when_the_process_would_be_root() -> None:
    problem = refused(pod(securityContext={"runAsNonRoot": True}), ROOT)
    assert problem.field == "spec.securityContext.runAsNonRoot"
    assert "would run as root" in str(problem)
    problem = refused(pod({"securityContext": {"runAsNonRoot": True, "runAsUser": 0}}), ROOT)
    assert problem.field == "spec.containers[0].securityContext.runAsNonRoot"
    assert admit(pod(securityContext={"runAsNonRoot": True, "runAsUser": 1000}), POD_DIR, ROOT)
    assert admit(pod(securityContext={"runAsNonRoot": True}), POD_DIR, USER)
    # the container's `false` overrides the pod's `true`
    assert admit(
        pod({"securityContext": {"runAsNonRoot": False}}, securityContext={"runAsNonRoot": True}),
        POD_DIR,
        ROOT,
    )


@pytest.mark.parametrize(
    ("manifest", "field"),
    [
        (pod(hostNetwork=True), "spec.hostNetwork"),
        (pod(hostPID=True), "spec.hostPID"),
        (pod(hostIPC=True), "spec.hostIPC"),
        (
            pod(volumes=[{"name": "e", "emptyDir": {}}, {"name": "h", "hostPath": {"path": "/"}}]),
            "spec.volumes[1].hostPath",
        ),
        (pod({"securityContext": {"privileged": True}}), "securityContext.privileged"),
        (
            pod({"securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}),
            "securityContext.capabilities.add",
        ),
        (pod({"securityContext": {"procMount": "Unmasked"}}), "securityContext.procMount"),
        (
            pod(securityContext={"sysctls": [{"name": "net.core.somaxconn", "value": "1"}]}),
            "spec.securityContext.sysctls",
        ),
        (
            pod({"securityContext": {"capabilities": {"drop": ["NOT_A_CAP"]}}}),
            "securityContext.capabilities.drop",
        ),
    ],
)
def test_what_a_process_node_cannot_honour_is_refused_naming_the_field(
    manifest: dict[str, Any], field: str
) -> None:
    for kubelet in (ROOT, USER):
        assert refused(manifest, kubelet).field.endswith(field)


def test_read_only_root_filesystem_is_honoured_root_or_not() -> None:
    manifest = pod({"securityContext": {"readOnlyRootFilesystem": True}})
    for kubelet in (ROOT, USER):
        [confinement] = admit(manifest, POD_DIR, kubelet).values()
        assert confinement.read_only_root and confinement.writable[0] == POD_DIR[0]


def test_dropped_capabilities_and_no_privilege_escalation() -> None:
    everything = tuple(range(last_capability() + 1))
    manifest = pod(
        {"securityContext": {"capabilities": {"drop": ["ALL"]}, "allowPrivilegeEscalation": False}}
    )
    [as_root] = admit(manifest, POD_DIR, ROOT).values()
    assert as_root.drop_capabilities == everything and as_root.no_new_privs
    named = pod({"securityContext": {"capabilities": {"drop": ["NET_RAW", "CAP_CHOWN"]}}})
    assert admit(named, POD_DIR, ROOT)["main"].drop_capabilities == (13, 0)
    # A process of a kubelet that is not root holds none; no_new_privs keeps it so.
    [as_user] = admit(named, POD_DIR, USER).values()
    assert as_user.drop_capabilities == () and as_user.no_new_privs


def test_the_operator_charts_pod_is_honoured_by_a_root_kubelet() -> None:
    """charts/dask-kubernetes-operator's securityContext: every field honoured, none ignored."""
    manifest = pod(
        {
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }
        },
        securityContext={"runAsNonRoot": True, "runAsUser": 1000},
    )
    [confinement] = admit(manifest, POD_DIR, ROOT).values()
    assert confinement.uid == 1000 and confinement.read_only_root and confinement.no_new_privs


def test_profiles_it_cannot_apply_are_named_not_dropped_silently() -> None:
    manifest = pod(
        {"securityContext": {"seLinuxOptions": {"level": "s0"}}},
        securityContext={"seccompProfile": {"type": "RuntimeDefault"}},
    )
    assert unenforced(manifest) == [
        "spec.securityContext.seccompProfile",
        "spec.containers[0].securityContext.seLinuxOptions",
    ]
    assert unenforced(pod(securityContext={"seccompProfile": {"type": "Unconfined"}})) == []


@pytest.mark.parametrize(
    ("container", "field"),
    [
        (
            {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "../x", "key": "k"}}}]},
            "spec.containers[0].env[0].valueFrom.secretKeyRef.name",
        ),
        (
            {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "A", "key": "k"}}}]},
            "spec.containers[0].env[0].valueFrom.configMapKeyRef.name",
        ),
        (
            {"envFrom": [{"configMapRef": {"name": "ok"}}, {"secretRef": {"name": "a/b"}}]},
            "spec.containers[0].envFrom[1].secretRef.name",
        ),
    ],
)
def test_source_names_the_api_server_would_refuse_are_refused(
    container: dict[str, Any], field: str
) -> None:
    assert refused(pod(container), ROOT).field == field


def test_init_containers_and_the_service_account_are_checked_too() -> None:
    manifest = pod()
    manifest["spec"]["initContainers"] = [
        {"name": "init", "envFrom": [{"secretRef": {"name": "%2e%2e"}}]}
    ]
    assert refused(manifest, ROOT).field == "spec.initContainers[0].envFrom[0].secretRef.name"
    assert refused(pod(serviceAccountName="../x"), ROOT).field == "spec.serviceAccountName"


def test_the_refusal_reads_as_a_kubelets() -> None:
    manifest = pod(hostNetwork=True)
    problem = refused(manifest, ROOT)
    status = refused_status(manifest, problem)
    assert status["phase"] == "Pending"
    [waiting] = [c["state"]["waiting"] for c in status["containerStatuses"]]
    assert waiting["reason"] == "CreateContainerConfigError"
    assert "spec.hostNetwork" in waiting["message"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and "spec.hostNetwork" in ready["message"]
    event = refusal_event(manifest, problem, "local")
    assert event["type"] == "Warning" and "spec.hostNetwork" in event["message"]
    assert event["involvedObject"]["uid"] == "u-1"
