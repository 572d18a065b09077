"""The kubelet converges through API failures: injected 500/409s and watches cut short."""

from __future__ import annotations

import kr8s
import pytest
from standin_support import api, create_pod, logs, python_pod, wait_for, wait_for_phase

from dask_kubernetes.local import LocalKubernetes


def _attempt(action) -> bool:
    try:
        action()
    except kr8s.ServerError:
        return False
    return True


@pytest.mark.slow
def test_pods_run_and_are_deleted_despite_faults() -> None:
    with LocalKubernetes() as k8s:
        assert k8s.api_server is not None
        k8s.api_server.faults.configure(
            error_rate=0.3,
            verbs={"create", "patch", "delete", "list"},
            watch_close_after_events=3,
            seed=4,
        )
        pods = []
        for i in range(3):
            manifest = python_pod(f"p{i}", "default", f"print('pod {i}')")
            pods.append(wait_for(lambda m=manifest: _try_create(k8s.kubeconfig, m), "create"))
        for i, pod in enumerate(pods):
            assert wait_for_phase(pod, "Succeeded", "Failed", timeout=60) == "Succeeded"
            assert logs(pod) == f"pod {i}"
        for pod in pods:
            wait_for(lambda pod=pod: _attempt(pod.delete), "delete accepted")
        wait_for(lambda: _no_pods(k8s.kubeconfig), "every pod to be gone", timeout=60)
        assert any(r.code in (500, 409) for r in k8s.api_server.audit)


def _no_pods(kubeconfig: str) -> bool:
    try:
        return not list(api(kubeconfig).get("pods", namespace="default"))
    except kr8s.ServerError:
        return False  # an injected fault on the list: ask again


def _try_create(kubeconfig: str, manifest: dict):
    try:
        return create_pod(kubeconfig, manifest)
    except kr8s.ServerError as exc:
        if "AlreadyExists" in str(exc) or "already exists" in str(exc):
            return kr8s.objects.Pod.get(
                manifest["metadata"]["name"], namespace="default", api=api(kubeconfig)
            )
        return None
