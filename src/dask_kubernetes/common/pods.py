"""What a Pod object says about itself, read one way by the operator, the API server emulator,
its controllers, the kubelet and the network agent (as Kubernetes' `podutil` does).

Two meanings of "ready", each defined once:
- `is_ready`: its Ready condition is True (podutil.IsPodReady) — what the operator awaits of a
  scheduler and what a ReplicaSet counts in `readyReplicas`;
- `serves_traffic`: ready, with an address, and neither terminating nor finished — what an
  Endpoints object lists as a ready address and what `services/proxy` may connect to;
and, between them, `is_healthy` (ready and not terminating), what a PodDisruptionBudget counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    """The status condition of type `kind` (`Ready`, ...) of a Pod or a Node; {} when absent."""
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), {})


def is_ready(pod: Mapping[str, Any]) -> bool:
    """The pod's Ready condition is True."""
    return condition(pod, "Ready").get("status") == "True"


def is_healthy(pod: Mapping[str, Any]) -> bool:
    """Ready and not being deleted: what a PodDisruptionBudget counts as currently healthy."""
    return not pod["metadata"].get("deletionTimestamp") and is_ready(pod)


def is_terminal(pod: Mapping[str, Any]) -> bool:
    """Succeeded or Failed: its containers will not run again."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def serves_traffic(pod: Mapping[str, Any]) -> bool:
    """Ready, has a pod IP, is not being deleted and has not finished."""
    if pod["metadata"].get("deletionTimestamp") or is_terminal(pod):
        return False
    return bool((pod.get("status") or {}).get("podIP")) and is_ready(pod)


def container_port(port: int | str, container: Mapping[str, Any]) -> int:
    """A port number, or the number of `container`'s port of that name (a probe's `port`, a
    Service's `targetPort`); ValueError when the container declares no such port."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"container has no port named {port!r}")
