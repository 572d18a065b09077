"""The two ways a release command fails, mapped to exit codes by the CLI."""

from __future__ import annotations


class UsageError(Exception):
    """Unusable input (missing file, garbled JSON, bad option): exit 2, one line."""

    exit_code = 2


class CheckFailed(Exception):
    """The input was fine but a check did not pass: exit 1, one line."""

    exit_code = 1
