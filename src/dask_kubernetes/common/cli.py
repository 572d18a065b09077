"""The one argument parser of the package's `python -m` entry points.

Why: argparse's own `error` prints the usage block and then the message, several lines; the
project's rule for bad input is one line and exit 2. Each entry point (`dask_kubernetes.operator`,
`dask_kubernetes.operator.crds`, the control-plane build) once subclassed ArgumentParser for
that; this is the one subclass. Its `error` raises `UsageError`, so an entry point reports a bad
option exactly as it reports any other unusable input it finds later (a missing file, a bad
value): one line, `NAME: message`, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

USAGE_EXIT = 2


class UsageError(Exception):
    """The command line, or an input it names, cannot be used (exit 2)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad command line raises `UsageError` instead of printing usage.

    Sub-command parsers (`add_subparsers().add_parser`) are of this class too: argparse makes
    them of the parent's class."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    def parse_or_exit(self, argv: Sequence[str] | None, name: str) -> argparse.Namespace:
        """Parse `argv`; on bad usage print `NAME: message` (one line) and exit 2."""
        try:
            return self.parse_args(argv)
        except UsageError as exc:
            raise SystemExit(usage_failure(name, exc)) from None


def usage_failure(name: str, exc: UsageError) -> int:
    """Report `exc` as the one line `NAME: message` on stderr; the exit code to return."""
    print(f"{name}: {exc}", file=sys.stderr)
    return USAGE_EXIT
