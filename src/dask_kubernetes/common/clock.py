"""Timestamps in the RFC 3339 form Kubernetes writes (whole seconds, `Z`): one definition."""

from __future__ import annotations

import datetime
import re

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


# Any RFC 3339 time a client may send, as kube-apiserver decodes it: fractional seconds of any
# length, `Z` or a numeric offset (kopf writes `2026-01-28T18:25:03.123456+00:00`).
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse(timestamp: str) -> datetime.datetime:
    """An RFC 3339 timestamp (ValueError if it is none), as an aware UTC datetime."""
    found = _RFC3339.match(timestamp)
    if found is None:
        raise ValueError(f"{timestamp!r} is not an RFC 3339 time")
    day, clock_time, fraction, offset = found.groups()
    offset = "+00:00" if offset in ("Z", "z") else offset
    micros = (fraction or "").ljust(6, "0")[:6]
    parsed = datetime.datetime.fromisoformat(f"{day}T{clock_time}.{micros}{offset}")
    return parsed.astimezone(datetime.timezone.utc)


def as_time(timestamp: str) -> str:
    """A client's RFC 3339 time as kube-apiserver stores a `Time`: whole seconds, UTC, `Z`."""
    return parse(timestamp).strftime(FORMAT)


def as_micro_time(timestamp: str) -> str:
    """... and a `MicroTime` (Events' eventTime): microseconds, UTC, `Z`."""
    return parse(timestamp).strftime(MICRO_FORMAT)
