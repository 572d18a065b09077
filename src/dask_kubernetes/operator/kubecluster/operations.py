"""Cluster operations that need only the Kubernetes API, shared by `KubeCluster` and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import kr8s

from dask_kubernetes.operator.vocabulary import worker_group_name

from .errors import ClusterNotFoundError, DeletionUnderWay, ResourceTimeoutError, ValidationError
from .kr8s_api import Api, find_object, kubernetes_errors, list_objects
from .resource_manifests import make_autoscaler, make_worker_group, without_nulls
from .resources import DaskAutoscaler, DaskCluster, DaskWorkerGroup
from .validation import validate_cluster_name, validate_worker_count

# DaskAutoscaler requires a maximum; `adapt()` without one means "as many as Kubernetes allows".
UNBOUNDED_WORKERS = 2**31 - 1
DELETE_POLL_INTERVAL = 0.25
AUTOSCALER_GONE_TIMEOUT = 30.0
#: Deleting a cluster waits at most this long (`close()`'s upstream default is an hour), saying
#: every `DELETE_REPORT_EVERY` seconds what it is still waiting for.
DELETE_TIMEOUT = 300.0
#: The garbage collector's finalizer on an owner deleted in the foreground.
FOREGROUND_DELETION = "foregroundDeletion"
DELETE_REPORT_EVERY = 10.0

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterSummary:
    """One line of `dask kubernetes list`."""

    name: str
    namespace: str
    phase: str
    workers: int | None
    created: datetime | None

    def age(self, now: datetime | None = None) -> str:
        if self.created is None:
            return "-"
        seconds = int(((now or datetime.now(timezone.utc)) - self.created).total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size:
                return f"{seconds // size}{unit}"
        return f"{max(seconds, 0)}s"


def summarise(cluster: Any) -> ClusterSummary:
    raw = cluster.raw
    metadata = raw.get("metadata", {})
    desired = raw.get("spec", {}).get("worker", {}).get("replicas")
    stamp = metadata.get("creationTimestamp")
    created = datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
    return ClusterSummary(
        name=str(metadata.get("name")),
        namespace=str(metadata.get("namespace")),
        phase=str(raw.get("status", {}).get("phase", "Unknown")),
        # The operator's count of the default group's workers: scaling changes the group, not
        # the cluster's spec (which then shows the count it was created with).
        workers=raw.get("status", {}).get("replicas", desired),
        created=created,
    )


async def list_clusters(api: Api, namespace: str | None) -> list[ClusterSummary]:
    """DaskClusters in `namespace` (`kr8s.ALL`: every namespace), by namespace and name."""
    with kubernetes_errors(namespace=namespace, dask_resource=True):
        clusters = await list_objects(DaskCluster, namespace, api)
    return sorted((summarise(c) for c in clusters), key=lambda s: (s.namespace, s.name))


async def scale_cluster(
    api: Api, name: str, namespace: str, n: int, worker_group: str | None = None
) -> None:
    """Set a worker group's replicas, removing any autoscaler first (it would undo the change)."""
    validate_worker_count(n, "n")
    with kubernetes_errors(namespace=namespace, dask_resource=True):
        if await find_object(DaskCluster, name, namespace, api) is None:
            raise ClusterNotFoundError(f"No Dask cluster named {name!r} in namespace {namespace!r}")
        autoscaler = await find_object(DaskAutoscaler, name, namespace, api)
        if autoscaler is not None:
            with contextlib.suppress(kr8s.NotFoundError):
                await autoscaler.delete()
            # Finalizers keep it (and its scaling) alive briefly; let it go before scaling.
            await _wait_gone(autoscaler, AUTOSCALER_GONE_TIMEOUT, f"DaskAutoscaler {name}")
        group_name = worker_group_name(name, worker_group or "default")
        group = await find_object(DaskWorkerGroup, group_name, namespace, api)
        if group is None:
            raise ValidationError(f"Cluster {name!r} has no worker group {group_name!r}")
        await group.scale(n)


async def adapt_cluster(
    api: Api, name: str, namespace: str, minimum: int | None, maximum: int | None
) -> None:
    """Create (or update) the cluster's DaskAutoscaler; the operator then does the scaling."""
    low = validate_worker_count(0 if minimum is None else minimum, "minimum")
    high = validate_worker_count(UNBOUNDED_WORKERS if maximum is None else maximum, "maximum")
    if high < low:
        raise ValidationError(f"adapt: maximum ({high}) is below minimum ({low})")
    with kubernetes_errors(namespace=namespace, dask_resource=True):
        autoscaler = await find_object(DaskAutoscaler, name, namespace, api)
        if autoscaler is not None:
            await autoscaler.patch({"spec": {"minimum": low, "maximum": high}})
            return
        manifest = make_autoscaler(name, namespace, low, high)
        await (await DaskAutoscaler(manifest, namespace=namespace, api=api)).create()


async def create_worker_group(
    api: Api, cluster_name: str, namespace: str, group: str, worker: Mapping[str, Any]
) -> None:
    """Add a DaskWorkerGroup `<cluster>-<group>` running `worker` (a worker spec)."""
    validate_cluster_name(worker_group_name(cluster_name, group))
    manifest = without_nulls(make_worker_group(cluster_name, group, namespace, dict(worker)))
    with kubernetes_errors(namespace=namespace, dask_resource=True):
        await (await DaskWorkerGroup(manifest, namespace=namespace, api=api)).create()


async def delete_worker_group(api: Api, cluster_name: str, namespace: str, group: str) -> None:
    group_name = worker_group_name(cluster_name, group)
    with kubernetes_errors(namespace=namespace, dask_resource=True):
        found = await find_object(DaskWorkerGroup, group_name, namespace, api)
        if found is None:
            raise ValidationError(f"Cluster {cluster_name!r} has no worker group {group_name!r}")
        await found.delete()


async def delete_cluster(api: Api, name: str, namespace: str, timeout: float | None) -> bool:
    """Delete a DaskCluster in the foreground; False if there was nothing to delete.

    The cluster shows Closing until the garbage collector has removed what it owns (Pods,
    Service, worker groups), so waiting for it to be gone (`timeout` not None) means all gone.
    """
    with kubernetes_errors(namespace=namespace, dask_resource=True):
        cluster = await find_object(DaskCluster, name, namespace, api)
        if cluster is None:
            return False
        with contextlib.suppress(kr8s.NotFoundError):
            await cluster.delete(propagation_policy="Foreground")
        if timeout is None:
            return True
        await _wait_gone(cluster, min(timeout, DELETE_TIMEOUT), f"DaskCluster {name}")
    return True


async def _blockers(obj: Any) -> str:
    """What keeps `obj` (being deleted) from going, as a user can act on it."""
    with contextlib.suppress(kr8s.NotFoundError):
        await obj.refresh()
    finalizers = list(obj.raw.get("metadata", {}).get("finalizers") or [])
    if finalizers:
        return (
            f"its finalizers {finalizers} (whoever added them must remove them, or: kubectl "
            f"patch {obj.kind.lower()} {obj.name} -n {obj.namespace} --type=merge "
            """-p '{"metadata":{"finalizers":null}}')"""
        )
    return "the garbage collector, which deletes what it owns (Pods, Service, worker groups) first"


async def _only_the_garbage_collector_holds(obj: Any) -> bool:
    """Marked deleted, and no finalizer but the garbage collector's `foregroundDeletion`."""
    with contextlib.suppress(kr8s.NotFoundError):
        await obj.refresh()
    metadata = obj.raw.get("metadata", {})
    finalizers = set(metadata.get("finalizers") or [])
    return bool(metadata.get("deletionTimestamp")) and finalizers <= {FOREGROUND_DELETION}


async def _wait_gone(obj: Any, timeout: float, what: str) -> None:
    start = time.monotonic()
    report = start + DELETE_REPORT_EVERY
    while await obj.exists():
        now = time.monotonic()
        if now > start + timeout:
            if await _only_the_garbage_collector_holds(obj):
                raise DeletionUnderWay(
                    f"{what} is still being deleted after {timeout:.0f}s: the garbage collector "
                    "is stopping its pods, and it goes when they have stopped"
                )
            blockers = await _blockers(obj)
            raise ResourceTimeoutError(
                f"Timed out after {timeout:.0f}s deleting {what}; waiting for {blockers}"
            )
        if now >= report:
            report = now + DELETE_REPORT_EVERY
            logger.warning(
                "%s is not deleted yet (%.0fs); waiting for %s",
                what,
                now - start,
                await _blockers(obj),
            )
        await asyncio.sleep(DELETE_POLL_INTERVAL)
