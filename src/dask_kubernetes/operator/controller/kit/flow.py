"""Get → reconcile → status write, one shape for every Dask resource the controller serves.

A resource module's `reconcile()` only works out the status its object should show. How that
status is written (through the one `StatusWriter`, from create handlers, event bursts and the
periodic reconcile alike, so its memory of what it wrote stays true), how a burst of events
becomes one run, how a resource is made its cluster's child, and how soon anything is tried
again are decided here, once.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import kopf

from dask_kubernetes.operator import child_manifests as m
from dask_kubernetes.operator.controller.kit.cache import Views
from dask_kubernetes.operator.controller.kit.runtime import Runtime
from dask_kubernetes.operator.rest import ApiError, resource_path
from dask_kubernetes.operator.vocabulary import DASK_CLUSTER, DaskResource

#: Seconds before kopf runs a failed create/resume/update handler again.
RETRY = 1.0
#: Seconds between periodic reconciles of each cluster, worker group and job.
CONVERGE_INTERVAL = 3.0
#: Seconds between autoscaling steps, and after a step before the next may scale again.
AUTOSCALE_INTERVAL = float(os.environ.get("DASK_KUBERNETES_OPERATOR_AUTOSCALER_INTERVAL", "5"))
AUTOSCALE_COOLDOWN = float(os.environ.get("DASK_KUBERNETES_OPERATOR_AUTOSCALER_COOLDOWN", "15"))

Reconcile = Callable[[Runtime, Views, Mapping[str, Any]], Awaitable[dict[str, Any]]]


def path_of(resource: DaskResource, body: Mapping[str, Any]) -> str:
    """The REST path of the object `body` (checked: see `resource_path`)."""
    meta = body["metadata"]
    return resource_path(meta["namespace"], resource.plural, meta["name"])


async def write_status(
    rt: Runtime, resource: DaskResource, body: Mapping[str, Any], desired: Mapping[str, Any]
) -> None:
    """PATCH the changed status fields. A refused object's is best effort: a server without
    CRD validation ratcheting answers 422 to any write on an object that fails its schema."""
    try:
        await rt.status.write(rt.kube, path_of(resource, body), body, desired)
    except ApiError as exc:
        if exc.status != 422 or not m.name_problem(body):
            raise


async def first_status(
    rt: Runtime,
    views: Views,
    resource: DaskResource,
    body: Mapping[str, Any],
    reconcile: Reconcile,
    seen: Mapping[str, Any],
) -> None:
    """A create or resume handler: reconcile, then write the status like every later write.

    `seen` (e.g. `phase: Pending`) fills the fields the object does not show yet, so it is
    marked as handled even when this reconcile fails and kopf retries it after `RETRY`.
    """
    current = body.get("status") or {}
    marks = {key: value for key, value in seen.items() if not current.get(key)}
    try:
        desired = await reconcile(rt, views, body)
    except Exception:
        if marks:
            await write_status(rt, resource, body, marks)
        raise
    await write_status(rt, resource, body, marks | desired)


def reconcile_soon(
    rt: Runtime,
    views: Views,
    resource: DaskResource,
    namespace: str,
    name: str,
    reconcile: Reconcile,
    *,
    while_deleting: bool = False,
) -> None:
    """Reconcile an object once a burst of events about it is over, from a fresh GET.

    Events (a scheduler became ready, a worker died) make the change show within a second
    instead of on the next periodic tick; the debouncer makes 200 events one run.
    """
    target = resource_path(namespace, resource.plural, name)

    async def run() -> None:
        current = await rt.kube.get(target)
        if current is None or (m.is_terminating(current) and not while_deleting):
            return
        await write_status(rt, resource, current, await reconcile(rt, views, current))

    rt.debouncer.trigger(target, run)


async def adopt(
    rt: Runtime,
    resource: DaskResource,
    child: Mapping[str, Any],
    cluster: str,
    *,
    controller: bool,
) -> bool:
    """Make `child` (a `resource`) a dependent of DaskCluster `cluster`, so it goes with it.

    The reference is kopf's own (`append_owner_reference`); False when the cluster is not
    there (yet).
    """
    namespace = child["metadata"]["namespace"]
    owner = await rt.kube.get(resource_path(namespace, DASK_CLUSTER.plural, cluster))
    if owner is None:
        return False
    patch = {"metadata": {"ownerReferences": list(child["metadata"].get("ownerReferences") or [])}}
    kopf.append_owner_reference(patch, owner=cast(kopf.Body, owner), controller=controller)
    await rt.kube.patch(path_of(resource, child), patch)
    return True
