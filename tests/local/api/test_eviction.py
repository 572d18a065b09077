"""The `pods/eviction` subresource, attacked as `kubectl drain` and the cluster autoscaler use it:
discovery must advertise it (or drain silently falls back to deleting, ignoring budgets), an
eviction deletes the Pod, and a PodDisruptionBudget that forbids it gets 429, as on a real server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from api_support import eventually
from control_planes import EMULATED
from node_support import BY_HAND
from test_kubectl import kubectl


def _pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"schedulerName": BY_HAND, "containers": [{"name": "c", "image": "busybox"}]},
    }


def _running(k8s: Any, namespace: str, name: str, labels: dict[str, str]) -> None:
    """A Pod bound and Ready, as a kubelet would report it (no kubelet runs in these tests)."""
    from kubernetes import client

    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, _pod(name, labels))
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    core.patch_namespaced_pod_status(name, namespace, {"status": status})


def _budget(k8s: Any, plane: Any, namespace: str, labels: dict[str, str], **spec: Any) -> None:
    """Make the budget, then await a real server's disruption controller counting every matching
    Pod made Ready so far (its informer can lag the status writes under load, and a budget
    computed from fewer healthy Pods refuses an eviction the test expects to pass). The stand-in
    writes no budget status: it counts at each eviction."""
    from kubernetes import client

    body = {
        "metadata": {"name": "budget"},
        "spec": {"selector": {"matchLabels": labels}, **spec},
    }
    policy = client.PolicyV1Api(k8s)
    policy.create_namespaced_pod_disruption_budget(namespace, body)
    selector = ",".join(f"{key}={value}" for key, value in labels.items())
    healthy = len(
        client.CoreV1Api(k8s).list_namespaced_pod(namespace, label_selector=selector).items
    )

    def observed() -> bool:
        budget = policy.read_namespaced_pod_disruption_budget("budget", namespace)
        status = budget.status
        if plane.name == EMULATED:
            return True
        if status is None or status.observed_generation is None:
            return False
        return bool(
            status.observed_generation >= budget.metadata.generation
            and status.current_healthy == healthy
        )

    eventually(observed, "the budget to count every Ready Pod")


PROCESSING = "is still being processed by the server"


def _evict(k8s: Any, namespace: str, name: str) -> None:
    """Evict as `kubectl drain` does: a 429 for a budget the disruption controller has not yet
    observed (a real server's answer right after the budget is made) is retried."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}

    def attempt() -> bool:
        try:
            client.CoreV1Api(k8s).create_namespaced_pod_eviction(name, namespace, eviction)
        except ApiException as error:
            if error.status == 429 and PROCESSING in (error.body or ""):
                return False
            raise
        return True

    eventually(attempt, "the budget to be observed")


def test_discovery_advertises_policy_v1_eviction(k8s: Any) -> None:
    """kubectl drain evicts only when `pods/eviction` names group policy, version v1, kind
    Eviction; otherwise it deletes, and budgets are never consulted."""
    from kubernetes import client

    resources = client.CoreV1Api(k8s).get_api_resources().resources
    (entry,) = [r for r in resources if r.name == "pods/eviction"]
    assert (entry.group, entry.version, entry.kind) == ("policy", "v1", "Eviction")
    assert entry.verbs == ["create"]


def test_an_eviction_deletes_the_pod(k8s: Any, namespace: str) -> None:
    from kubernetes import client

    _evict_target = "alone"
    client.CoreV1Api(k8s).create_namespaced_pod(namespace, _pod(_evict_target, {"app": "a"}))
    _evict(k8s, namespace, _evict_target)
    names = [p.metadata.name for p in client.CoreV1Api(k8s).list_namespaced_pod(namespace).items]
    assert _evict_target not in names


def test_a_budget_that_forbids_it_answers_429(k8s: Any, plane: Any, namespace: str) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    labels = {"app": "guarded"}
    _running(k8s, namespace, "guarded", labels)
    # minAvailable: for bare Pods (no controller) a real maxUnavailable budget expects 0 Pods
    # (docs/design/local-standin.md, "Differences").
    _budget(k8s, plane, namespace, labels, minAvailable=1)
    with pytest.raises(ApiException) as caught:
        _evict(k8s, namespace, "guarded")
    assert caught.value.status == 429
    body = json.loads(caught.value.body)
    assert body["reason"] == "TooManyRequests"
    assert body["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert body["details"]["causes"][0]["message"] == (
        "The disruption budget budget needs 1 healthy pods and has 1 currently"
    )
    pod = client.CoreV1Api(k8s).read_namespaced_pod("guarded", namespace)
    assert pod.metadata.deletion_timestamp is None  # still there, untouched


def test_min_available_equal_to_the_healthy_count_forbids_it(
    k8s: Any, plane: Any, namespace: str
) -> None:
    from kubernetes.client.exceptions import ApiException

    labels = {"app": "pair"}
    for name in ("one", "two"):
        _running(k8s, namespace, name, labels)
    _budget(k8s, plane, namespace, labels, minAvailable=2)
    with pytest.raises(ApiException) as caught:
        _evict(k8s, namespace, "one")
    assert caught.value.status == 429


def test_a_budget_with_room_lets_one_go_and_then_not_the_next(
    k8s: Any, plane: Any, namespace: str
) -> None:
    from kubernetes.client.exceptions import ApiException

    labels = {"app": "trio"}
    for name in ("one", "two", "three"):
        _running(k8s, namespace, name, labels)
    _budget(k8s, plane, namespace, labels, minAvailable=2)
    _evict(k8s, namespace, "one")  # terminating now: no longer healthy
    with pytest.raises(ApiException) as caught:
        _evict(k8s, namespace, "two")
    assert caught.value.status == 429


def test_the_name_in_the_body_must_match_the_url(k8s: Any, namespace: str) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    client.CoreV1Api(k8s).create_namespaced_pod(namespace, _pod("real", {"app": "x"}))
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}}
    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(k8s).create_namespaced_pod_eviction("real", namespace, eviction)
    assert caught.value.status == 400


@pytest.mark.slow
def test_kubectl_drain_reports_a_budget_violation(
    k8s: Any, plane: Any, kubeconfig: Path, namespace: str
) -> None:
    """`kubectl drain` cordons the node, evicts, and on 429 retries then fails: the Pod stays."""
    from kubernetes import client

    core = client.CoreV1Api(k8s)
    node = f"node-{namespace}"
    core.create_node({"metadata": {"name": node}})
    try:
        labels = {"app": "held"}
        _running(k8s, namespace, "held", labels)
        binding = {"target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "held"}, **binding}
        core.create_namespaced_pod_binding("held", namespace, body, _preload_content=False)
        _budget(k8s, plane, namespace, labels, maxUnavailable=0)
        drained = kubectl(
            kubeconfig,
            "drain",
            node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--force",
            "--timeout=8s",
            check=False,
        )
        assert drained.returncode != 0
        assert "disruption budget" in drained.stderr
        assert core.read_node(node).spec.unschedulable is True  # cordoned
        assert core.read_namespaced_pod("held", namespace).metadata.deletion_timestamp is None
    finally:
        core.delete_node(node)


def test_a_dry_run_eviction_keeps_the_pod(k8s: Any, namespace: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(namespace, _pod("kept", {"app": "k"}))
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "kept"}}
    core.create_namespaced_pod_eviction("kept", namespace, eviction, dry_run="All")
    assert core.read_namespaced_pod("kept", namespace).metadata.deletion_timestamp is None
