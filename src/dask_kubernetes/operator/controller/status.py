"""Status bookkeeping shared by handlers: write only what changed, keep condition timestamps."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import datetime, timezone
from typing import Any

from dask_kubernetes.operator.manifests import condition


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def changes(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in desired.items() if current.get(key) != value}


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


def apply(
    patch_status: MutableMapping[str, Any], current: Mapping[str, Any], desired: Mapping[str, Any]
) -> None:
    patch_status.update(changes(current, desired))
