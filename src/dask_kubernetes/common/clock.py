"""Timestamps in the RFC 3339 form Kubernetes writes (whole seconds, `Z`): one definition."""

from __future__ import annotations

import datetime

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def now() -> str:
    """Now, as Kubernetes stamps `lastTransitionTime`, `startTime` and the like."""
    return utcnow().strftime(FORMAT)


def after(seconds: float) -> str:
    return (utcnow() + datetime.timedelta(seconds=seconds)).strftime(FORMAT)


def parse(timestamp: str) -> datetime.datetime:
    return datetime.datetime.strptime(timestamp, FORMAT).replace(tzinfo=datetime.timezone.utc)
