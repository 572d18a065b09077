"""Periodic reconciles without kopf timers, so deleting a Dask resource never waits for us.

kopf puts its finalizer on every object a `kopf.timer` serves (it must stop the timer before the
object goes), so `kubectl delete daskcluster` hung whenever the operator was down. Here one task
per kind walks the watch-fed index of that kind's objects every few seconds instead: nothing is
written on the objects, and an object deleted meanwhile simply drops out of the index.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from dask_kubernetes.operator.controller.kit.cache import Views
from dask_kubernetes.operator.controller.kit.runtime import Runtime, runtime
from dask_kubernetes.operator.vocabulary import (
    DASK_AUTOSCALER,
    DASK_CLUSTER,
    DASK_JOB,
    DASK_WORKER_GROUP,
    DaskResource,
)

logger = logging.getLogger(__name__)

Reconcile = Callable[[Runtime, Views, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class _Periodic:
    index: str  # the kopf index (handler kwarg) holding this kind's objects
    interval: float
    run: Reconcile


_SCHEDULE: list[_Periodic] = []


def every(resource: DaskResource, interval: float) -> Callable[[Reconcile], Reconcile]:
    """Run the decorated reconcile on each object of `resource` every `interval` seconds."""
    index = _INDEXES[resource]

    def register(run: Reconcile) -> Reconcile:
        _SCHEDULE.append(_Periodic(index, interval, run))
        return run

    return register


def _body(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> Any:
    return {(namespace or "", name): copy.deepcopy(dict(body))}


#: Each kind's objects, whole, by (namespace, name): kopf keeps them from its watches.
_INDEXES = {
    DASK_CLUSTER: "cluster_bodies",
    DASK_WORKER_GROUP: "group_bodies",
    DASK_JOB: "job_bodies",
    DASK_AUTOSCALER: "autoscaler_bodies",
}
for _resource, _index in _INDEXES.items():
    kopf.index(_resource.fqn, id=_index)(_body)


def _not_started(memo: Any, **_: Any) -> bool:
    return not runtime(memo).tasks


async def _start(memo: Any, **indices: Any) -> None:
    """Start the periodic reconciles from the first resource handler kopf runs: only then are
    its indexes full, and only a handler's context can post Events (kopf's context variables)."""
    rt = runtime(memo)
    if not rt.tasks:
        rt.tasks.append(asyncio.get_running_loop().create_task(_run(rt, indices)))


for _resource in _INDEXES:
    kopf.on.event(_resource.fqn, id="periodic", when=_not_started)(_start)


async def _run(rt: Runtime, indices: Mapping[str, Any]) -> None:
    """Every registered reconcile, forever (cancel the task to stop)."""
    await asyncio.gather(*(_loop(rt, indices, periodic) for periodic in _SCHEDULE))


async def _loop(rt: Runtime, indices: Mapping[str, Any], periodic: _Periodic) -> None:
    """Each tick, start the reconcile of every object whose previous one has finished: a slow
    object (a scheduler that does not answer) delays only itself, as with kopf's timers."""
    views = Views.of(indices)
    index = indices[periodic.index]
    running: dict[str, asyncio.Task[None]] = {}
    try:
        while True:
            await asyncio.sleep(periodic.interval)
            for store in list(index.values()):
                for body in list(store):
                    key = str(body["metadata"].get("uid"))
                    if key in running and not running[key].done():
                        continue
                    running[key] = asyncio.create_task(_once(periodic, rt, views, body))
            for key in [k for k, task in running.items() if task.done()]:
                del running[key]
    finally:
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)


async def _once(periodic: _Periodic, rt: Runtime, views: Views, body: dict[str, Any]) -> None:
    try:
        await periodic.run(rt, views, body)
    except Exception as exc:  # the next tick retries; log and carry on
        meta = body["metadata"]
        logger.error(
            "periodic reconcile of %s %s/%s failed; retrying in %ss: %s",
            body.get("kind"),
            meta.get("namespace"),
            meta.get("name"),
            periodic.interval,
            exc,
            exc_info=exc,
        )
