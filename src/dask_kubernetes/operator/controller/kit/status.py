"""Status bookkeeping shared by handlers: write only what changed, keep condition timestamps."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from dask_kubernetes.common.clock import now
from dask_kubernetes.operator.rest import Kube


def changes(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in desired.items() if current.get(key) != value}


def condition(kind: str, status: bool, reason: str, message: str, when: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": when,
    }


def with_condition(
    current: Mapping[str, Any], kind: str, ok: bool, reason: str, message: str
) -> list[dict[str, str]]:
    """Conditions with `kind` set; the transition time only moves when the status flips."""
    conditions = [dict(c) for c in current.get("conditions") or []]
    for existing in conditions:
        if existing.get("type") == kind:
            if existing.get("status") == ("True" if ok else "False"):
                existing.update(reason=reason, message=message)
                return conditions
            existing.update(condition(kind, ok, reason, message, now()))
            return conditions
    conditions.append(condition(kind, ok, reason, message, now()))
    return conditions


class StatusWriter:
    """PATCHes `status` with only what changed, remembering its own writes.

    An event handler and a timer may reconcile the same object from bodies taken before either
    wrote; comparing with what this process last wrote (one writer at a time per object) keeps
    them from writing the same change twice. Only the operator writes these statuses, so its
    memory is a valid overlay.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._written: dict[str, dict[str, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._limit = limit

    async def write(
        self, kube: Kube, path: str, body: Mapping[str, Any], desired: Mapping[str, Any]
    ) -> bool:
        """True when a PATCH was sent (`path` is the object's, without `/status`)."""
        uid = str(body["metadata"].get("uid", path))
        async with self._locks.setdefault(uid, asyncio.Lock()):
            current = {**(body.get("status") or {}), **self._written.get(uid, {})}
            delta = changes(current, desired)
            if not delta:
                return False
            await kube.patch(f"{path}/status", {"status": delta})
            self._written.pop(uid, None)  # re-insert last: the oldest entries go first
            self._written[uid] = {**current, **delta}
        while len(self._written) > self._limit:
            oldest = next(iter(self._written))
            del self._written[oldest]
            self._locks.pop(oldest, None)
        return True
