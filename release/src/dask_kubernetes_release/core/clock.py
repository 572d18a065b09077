"""The toolkit's one clock: "now", and timestamps in RFC 3339 as in-toto and SLSA write them.

Why one place: provenance records when a build started and finished, attest defaults to the
distributions' mtimes; every timestamp the toolkit writes must have one form (UTC, whole
seconds, `Z`) and one source of "now".
"""

from __future__ import annotations

from datetime import datetime, timezone

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def now() -> str:
    """Now, in RFC 3339."""
    return rfc3339(utcnow())


def rfc3339(moment: datetime) -> str:
    """`moment` in UTC, whole seconds, `Z` (a naive moment is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime(FORMAT)


def from_timestamp(seconds: float) -> datetime:
    """A file's mtime (seconds since the epoch) as an aware UTC moment."""
    return datetime.fromtimestamp(seconds, timezone.utc)


def parse(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 time (`Z` accepted, naive is UTC); ValueError when it is not one."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
