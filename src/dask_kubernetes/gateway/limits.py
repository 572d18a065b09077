"""Per-user limits, counted from the custom resources: clusters, cores and memory.

dask-gateway dropped per-user limits (its users keep asking: dask-gateway #313, #452). Here a
user's usage is what that user's DaskClusters ask for (scheduler plus workers at their scale,
from the resolved config each cluster carries), read from the watched resources: every replica
counts the same, and a restart forgets nothing. Pure functions; the backend calls them before
it creates or scales anything, so a refusal creates nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dask_kubernetes.gateway import state


@dataclass(frozen=True)
class UserLimits:
    """0 means no limit."""

    max_clusters: int = 0
    max_cores: float = 0.0
    max_memory: int = 0


def _gb(value: int) -> str:
    return f"{value / 2**30:.2f} GiB"


def _usage(clusters: Iterable[Mapping[str, Any]]) -> tuple[int, float, int]:
    count, cores, memory = 0, 0.0, 0
    for cluster in clusters:
        c, mem = state.cores_and_memory(cluster)
        count, cores, memory = count + 1, cores + c, memory + mem
    return count, cores, memory


def new_cluster_problem(
    limits: UserLimits,
    user: str,
    theirs: Sequence[Mapping[str, Any]],
    scheduler_cores: float,
    scheduler_memory: int,
) -> str | None:
    """Why `user`, who has `theirs`, may not start one more cluster; None when they may."""
    count, cores, memory = _usage(theirs)
    if limits.max_clusters and count + 1 > limits.max_clusters:
        return (
            f"user {user} already has {count} clusters, the limit is {limits.max_clusters}: "
            "stop one first"
        )
    if limits.max_cores and cores + scheduler_cores > limits.max_cores:
        return (
            f"a new cluster needs {scheduler_cores:g} cores; user {user} uses {cores:g} of "
            f"{limits.max_cores:g}"
        )
    if limits.max_memory and memory + scheduler_memory > limits.max_memory:
        return (
            f"a new cluster needs {_gb(scheduler_memory)}; user {user} uses {_gb(memory)} of "
            f"{_gb(limits.max_memory)}"
        )
    return None


def workers_allowed(
    limits: UserLimits,
    others: Sequence[Mapping[str, Any]],
    cluster: Mapping[str, Any],
    requested: int,
) -> int:
    """The most workers (at most `requested`) `cluster` may have, given the user's `others`."""
    _, cores, memory = _usage(others)
    allowed = requested
    base_cores, base_memory = state.cores_and_memory(cluster, 0)
    per_cores, per_memory = (
        a - b
        for a, b in zip(state.cores_and_memory(cluster, 1), (base_cores, base_memory), strict=True)
    )
    if limits.max_cores and per_cores > 0:
        allowed = min(allowed, int((limits.max_cores - cores - base_cores) // per_cores))
    if limits.max_memory and per_memory > 0:
        allowed = min(allowed, int((limits.max_memory - memory - base_memory) // per_memory))
    return max(0, allowed)


def scale_refusal(user: str, requested: int, allowed: int, limits: UserLimits) -> str:
    return (
        f"scaling to {requested} workers would exceed the limits of user {user} "
        f"(cores {limits.max_cores or 'unlimited'}, memory "
        f"{_gb(limits.max_memory) if limits.max_memory else 'unlimited'}): at most {allowed}"
    )
