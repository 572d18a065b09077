"""Kubernetes Events on our resources, from kopf handlers and background reconciles alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import kopf


def normal(obj: Mapping[str, Any], reason: str, message: str) -> None:
    # kopf only reads apiVersion/kind/metadata from the body, so a plain dict serves.
    kopf.info(cast(kopf.Body, obj), reason=reason, message=message)


def warning(obj: Mapping[str, Any], reason: str, message: str) -> None:
    kopf.warn(cast(kopf.Body, obj), reason=reason, message=message)


class Refusals:
    """Objects the operator refuses (`InvalidSpec`), so each reason is said once, not every tick.

    The status cannot be that memory: a server without CRD validation ratcheting refuses to
    store anything, even a status, on an object that fails its schema.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._said: dict[str, str] = {}
        self._limit = limit

    def report(self, obj: Mapping[str, Any], message: str) -> None:
        key = str(obj["metadata"].get("uid") or obj["metadata"].get("name"))
        if message in (self._said.get(key), (obj.get("status") or {}).get("reason")):
            return
        self._said.pop(key, None)  # re-insert last: the oldest entries go first
        self._said[key] = message
        while len(self._said) > self._limit:
            del self._said[next(iter(self._said))]
        warning(obj, reason="InvalidSpec", message=message)
