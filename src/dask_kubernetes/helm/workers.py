# mypy: disable-error-code="no-untyped-call"
# (distributed's rpc carries no annotations; everything of ours is typed.)
"""Scale a chart's worker Deployment without losing what its workers hold.

Patching `replicas` down lets the ReplicaSet pick the pods to delete, with whatever results
they held. Here Dask picks first: the scheduler retires the chosen workers (moving their data
to the others, `close_workers=False, remove=False` so they stay up but accept no new tasks),
their pods get the lowest `controller.kubernetes.io/pod-deletion-cost`, and only then does
`replicas` go down, so the ReplicaSet deletes exactly those pods.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kr8s.asyncio.objects import Deployment, Pod, ReplicaSet

from dask_kubernetes.operator.kubecluster.kr8s_api import (
    Api,
    find_object,
    kubernetes_errors,
    list_objects,
)

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
# The lowest int32: deleted before any pod whose cost was left at the default 0.
RETIRED_COST = str(-(2**31))


@dataclass(frozen=True)
class ConnectedWorker:
    """A worker as the scheduler's `identity()` lists it."""

    address: str
    name: str


def matches(pod: dict[str, Any], worker: ConnectedWorker) -> bool:
    """Whether `worker` runs in `pod` (by pod IP in its address, or by pod name)."""
    ip = pod.get("status", {}).get("podIP")
    return pod["metadata"]["name"] == worker.name or (bool(ip) and f"//{ip}:" in worker.address)


def connected_workers(identity: dict[str, Any]) -> list[ConnectedWorker]:
    return [
        ConnectedWorker(address, str(info.get("name", address)))
        for address, info in (identity.get("workers") or {}).items()
    ]


async def deployment_pods(api: Api, deployment: Any) -> list[dict[str, Any]]:
    """The live (not terminating) pods the Deployment's ReplicaSets own.

    The chart gives every worker group the same pod labels, so ownership, not labels, tells
    which pods are this Deployment's.
    """
    namespace = deployment.namespace
    uid = deployment.raw["metadata"]["uid"]
    replica_sets = await list_objects(ReplicaSet, namespace, api)
    ours = {
        rs.name
        for rs in replica_sets
        if any(o.get("uid") == uid for o in rs.raw["metadata"].get("ownerReferences", []))
    }
    pods = await list_objects(Pod, namespace, api)
    return [
        p.raw
        for p in pods
        if not p.raw["metadata"].get("deletionTimestamp")
        and p.raw.get("status", {}).get("phase") not in ("Succeeded", "Failed")
        and any(
            o.get("kind") == "ReplicaSet" and o.get("name") in ours
            for o in p.raw["metadata"].get("ownerReferences", [])
        )
    ]


async def get_deployment(api: Api, name: str, namespace: str) -> Any | None:
    return await find_object(Deployment, name, namespace, api)


async def set_replicas(api: Api, deployment: Any, replicas: int) -> None:
    with kubernetes_errors(namespace=deployment.namespace):
        await deployment.patch({"spec": {"replicas": replicas}})


async def mark_for_deletion(api: Api, namespace: str, pods: Iterable[dict[str, Any]]) -> None:
    """Give `pods` the lowest deletion cost, so a scale-down removes them first."""
    for raw in pods:
        pod = await Pod(raw, api=api)
        with kubernetes_errors(namespace=namespace):
            await pod.patch({"metadata": {"annotations": {DELETION_COST: RETIRED_COST}}})


async def retire(scheduler_comm: Any, addresses: list[str]) -> set[str]:
    """Retire workers through the scheduler; the addresses it could retire (data moved)."""
    if not addresses:
        return set()
    retired = await scheduler_comm.retire_workers(
        workers=addresses, close_workers=False, remove=False
    )
    return set(retired or {})


async def scale_down(
    api: Api,
    scheduler_comm: Any,
    deployment: Any,
    target: int,
    chosen: list[str] | None = None,
) -> int:
    """Bring the Deployment down to `target` pods, retiring workers first; return its replicas.

    Pods whose worker never connected go first; then workers `chosen` (addresses), else those
    the scheduler's `workers_to_close` names. A worker whose data cannot be moved anywhere is
    kept, so the Deployment may stay above `target`.
    """
    pods = await deployment_pods(api, deployment)
    current = int(deployment.raw["spec"].get("replicas", len(pods)))
    excess = max(current - target, 0)
    if excess == 0:
        return current
    workers = connected_workers(await scheduler_comm.identity())
    running = {w.address: p for w in workers for p in pods if matches(p, w)}
    idle = [p for p in pods if not any(p is q for q in running.values())]
    victims = idle[:excess]
    remaining = excess - len(victims)
    if remaining > 0:
        if chosen is None:
            chosen = await _workers_to_close(scheduler_comm, workers, running, remaining)
        candidates = [a for a in chosen if a in running][:remaining]
        retired = await retire(scheduler_comm, candidates)
        victims += [running[a] for a in candidates if a in retired]
    replicas = current - len(victims)
    await mark_for_deletion(api, deployment.namespace, victims)
    await set_replicas(api, deployment, replicas)
    return replicas


async def _workers_to_close(
    scheduler_comm: Any,
    workers: list[ConnectedWorker],
    running: dict[str, dict[str, Any]],
    n: int,
) -> list[str]:
    """The scheduler's choice when this Deployment holds every worker, else ours among its own."""
    if len(running) == len(workers):
        chosen = await scheduler_comm.workers_to_close(n=n)
        return [str(a) for a in chosen]
    return sorted(running)[-n:]
