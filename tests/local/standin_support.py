"""Helpers for the stand-in conformance tests: manifests and polling with deadlines (no sleeps)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import kr8s
import pytest
from kr8s.objects import Pod, Service

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except kr8s.NotFoundError:
            last = None
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def require_shared_filesystem(cluster: Any) -> None:
    """Tests that steer a pod through files in the test's tmp_path only work on the stand-in."""
    if not cluster.local:
        pytest.skip("steers the pod through the host filesystem (stand-in only)")


def api(kubeconfig: str) -> kr8s.Api:
    return kr8s.api(kubeconfig=kubeconfig)


def python_pod(
    name: str,
    namespace: str,
    code: str,
    *,
    labels: dict[str, str] | None = None,
    restart_policy: str = "Never",
    **container: Any,
) -> dict[str, Any]:
    """A pod whose single container runs `python -c code` (args only, like the Dask images)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            "restartPolicy": restart_policy,
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {"name": "main", "image": "python:3", "args": ["python", "-c", code], **container}
            ],
        },
    }


def service(
    name: str,
    namespace: str,
    selector: dict[str, str],
    ports: list[dict[str, Any]],
    kind: str = "ClusterIP",
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": kind, "selector": selector, "ports": ports},
    }


def create_pod(kubeconfig: str, manifest: dict[str, Any]) -> Pod:
    pod = Pod(manifest, api=api(kubeconfig))
    pod.create()
    return pod


def create_service(kubeconfig: str, manifest: dict[str, Any]) -> Service:
    svc = Service(manifest, api=api(kubeconfig))
    svc.create()
    return svc


def phase_of(pod: Pod) -> str | None:
    pod.refresh()
    return pod.raw.get("status", {}).get("phase")


def wait_for_phase(pod: Pod, *phases: str, timeout: float = 30.0) -> str:
    return wait_for(
        lambda: phase_of(pod) if phase_of(pod) in phases else None,
        f"pod {pod.name} to reach {phases}",
        timeout,
    )


def is_ready(pod: Pod) -> bool:
    pod.refresh()
    conditions = pod.raw.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def container_status(pod: Pod) -> dict[str, Any]:
    """The first container's status; empty until the kubelet has reported one."""
    pod.refresh()
    statuses = pod.raw.get("status", {}).get("containerStatuses") or [{}]
    return dict(statuses[0])


def logs(pod: Pod, **options: Any) -> str:
    """The pod's log; empty while its container is still being created (the API says 400)."""
    try:
        return "\n".join(pod.logs(**options))
    except kr8s.ServerError as exc:
        if exc.response is not None and exc.response.status_code == 400:
            return ""
        raise


def load_balancer_ip(svc: Service) -> str | None:
    svc.refresh()
    ingress = svc.raw.get("status", {}).get("loadBalancer", {}).get("ingress") or []
    return ingress[0].get("ip") if ingress else None
