"""Timestamps in the RFC 3339 form Kubernetes writes (whole seconds, `Z`): one definition."""

from __future__ import annotations

import datetime

FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# MicroTime (Lease renewTime/acquireTime, Events' eventTime): microseconds, still `Z`.
MICRO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def now() -> str:
    """Now, as Kubernetes stamps `lastTransitionTime`, `startTime` and the like."""
    return utcnow().strftime(FORMAT)


def micro_now() -> str:
    return utcnow().strftime(MICRO_FORMAT)


def after(seconds: float) -> str:
    return (utcnow() + datetime.timedelta(seconds=seconds)).strftime(FORMAT)


def parse(timestamp: str) -> datetime.datetime:
    return datetime.datetime.strptime(timestamp, FORMAT).replace(tzinfo=datetime.timezone.utc)
