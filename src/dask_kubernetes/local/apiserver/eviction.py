"""The `pods/eviction` subresource (policy/v1 Eviction), so `kubectl drain` and the cluster
autoscaler work on the stand-in as on a real cluster: an eviction deletes the Pod unless a
PodDisruptionBudget forbids it, and then the answer is 429 as the real server's.

The stand-in has no disruption controller: a budget's allowance is computed at eviction time from
the healthy (Ready, not terminating) Pods its selector matches (see docs/design/local-standin.md).
"""

from __future__ import annotations

import math
from typing import Any

from dask_kubernetes.common.pods import is_healthy
from dask_kubernetes.local.apimachinery.errors import APIError, status_body
from dask_kubernetes.local.apimachinery.selectors import Selection, selector_to_string

from . import kinds
from .objects import DeleteOptions, ObjectAPI
from .resources import ResourceType

VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."
RETRY_AFTER_SECONDS = 10  # what kube-apiserver's eviction handler suggests in the 429


def _count(value: Any, total: int, *, round_up: bool) -> int:
    """An IntOrString budget field: an int, or a percentage of `total`."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            share = float(value[:-1]) * total / 100
        except ValueError as error:
            raise APIError(500, f"invalid percentage {value!r} in a disruption budget") from error
        return math.ceil(share) if round_up else math.floor(share)
    if isinstance(value, int):
        return value
    raise APIError(500, f"invalid value {value!r} in a disruption budget")


def _matching_budgets(objects: ObjectAPI, pod: dict[str, Any]) -> list[dict[str, Any]]:
    budgets = objects.resources.lookup("policy", "v1", "poddisruptionbudgets")
    if budgets is None:
        return []
    namespace = pod["metadata"]["namespace"]
    matching = []
    for budget in objects.list(budgets, namespace, Selection())["items"]:
        selector = (budget.get("spec") or {}).get("selector")
        if not selector:  # policy/v1: an empty selector selects nothing
            continue
        if Selection.parse(selector_to_string(selector), None).matches(pod):
            matching.append(budget)
    return matching


def _allowed(
    objects: ObjectAPI, pods: ResourceType, budget: dict[str, Any]
) -> tuple[int, int, int]:
    """(disruptions allowed, desired healthy, healthy) for `budget`, from its Pods now."""
    namespace = budget["metadata"]["namespace"]
    spec = budget.get("spec") or {}
    selection = Selection.parse(selector_to_string(spec.get("selector")), None)
    selected = objects.list(pods, namespace, selection)["items"]
    expected = len([p for p in selected if not p["metadata"].get("deletionTimestamp")])
    healthy = len([p for p in selected if is_healthy(p)])
    if spec.get("maxUnavailable") is not None:
        desired = expected - _count(spec["maxUnavailable"], expected, round_up=True)
    else:
        desired = _count(spec.get("minAvailable", 1), expected, round_up=True)
    return max(healthy - max(desired, 0), 0), desired, healthy


def evict(
    objects: ObjectAPI, pods: ResourceType, namespace: str, name: str, eviction: Any
) -> dict[str, Any]:
    """Delete the Pod as an eviction; 429 when a disruption budget forbids it."""
    if not isinstance(eviction, dict):
        raise APIError(400, "the request body is not an Eviction")
    meta = eviction.get("metadata") or {}
    if meta.get("name") and meta["name"] != name:
        raise APIError(400, "name in URL does not match name in Eviction object")
    options = DeleteOptions.parse(eviction.get("deleteOptions"), {})
    pod = objects.get(pods, namespace, name)
    phase = (pod.get("status") or {}).get("phase")
    # As the real server: a finished, pending or terminating Pod disrupts nothing.
    if (
        phase in kinds.POD_TERMINAL
        or phase == "Pending"
        or pod["metadata"].get("deletionTimestamp")
    ):
        objects.delete(pods, namespace, name, options)
        return status_body(201, "", "")
    budgets = _matching_budgets(objects, pod)
    if len(budgets) > 1:
        raise APIError(
            500,
            "This pod has more than one PodDisruptionBudget, which the eviction subresource "
            "does not support.",
        )
    for budget in budgets:
        allowed, desired, healthy = _allowed(objects, pods, budget)
        if allowed < 1:
            cause = (
                f"The disruption budget {budget['metadata']['name']} needs {desired} healthy "
                f"pods and has {healthy} currently"
            )
            raise APIError(
                429,
                VIOLATION,
                reason="TooManyRequests",
                details={
                    "causes": [{"reason": "DisruptionBudget", "message": cause}],
                    "retryAfterSeconds": RETRY_AFTER_SECONDS,
                },
            )
    objects.delete(pods, namespace, name, options)
    return status_body(201, "", "")
