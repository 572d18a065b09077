"""CalVer release numbers (`YYYY.M.P`): parsing and ordering.

Why a tiny type of our own: tags must sort by number, not text (2026.10.0 > 2026.9.3), and a
malformed VERSION is a usage error, caught before any git work starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from dask_kubernetes_release.core.errors import UsageError

# Month without a leading zero, like pyproject's hatch-vcs tag pattern; patch is any integer.
_CALVER = re.compile(r"^(?P<year>[0-9]{4})\.(?P<month>[1-9]|1[0-2])\.(?P<patch>0|[1-9][0-9]*)$")


@dataclass(frozen=True, order=True)
class CalVer:
    year: int
    month: int
    patch: int

    def __str__(self) -> str:
        return f"{self.year}.{self.month}.{self.patch}"

    @classmethod
    def parse(cls, text: str) -> CalVer:
        """Parse `YYYY.M.P`; anything else is unusable input (exit 2)."""
        match = _CALVER.match(text)
        if match is None:
            raise UsageError(
                f"{text!r} is not a CalVer release number YYYY.M.P "
                "(e.g. 2026.11.0, no leading zeros)"
            )
        return cls(int(match["year"]), int(match["month"]), int(match["patch"]))

    @classmethod
    def maybe(cls, text: str) -> CalVer | None:
        """Parse a tag name, or None for tags that are not releases."""
        return cls.parse(text) if _CALVER.match(text) else None


def latest(tags: Iterable[str]) -> CalVer | None:
    """The highest release among `tags`, ignoring tags that are not CalVer."""
    versions = [v for v in (CalVer.maybe(tag) for tag in tags) if v is not None]
    return max(versions, default=None)
