"""Awaiting a node component: poll a check until it holds, failing fast when the process exits.

The wait itself is the plane's (`Process.await_condition` in `controlplane/process.py`): a bounded
deadline that holds under load, the log's last lines in the error, never a fixed sleep.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable

from dask_kubernetes.local.controlplane.process import Process


def await_condition(
    process: Process, check: Callable[[], str | None], timeout: float, what: str
) -> None:
    """`check()` returns None when ready, else why not yet: the plane's own wait (`Process.
    await_condition`), so node and plane components fail alike."""
    process.await_condition(check, timeout, what)


def http_ok(url: str) -> Callable[[], str | None]:
    """A check: plain-HTTP `url` answers 200 (healthz endpoints on the node address)."""

    def check() -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own URL
                return None if answer.status == 200 else f"HTTP {answer.status}"
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}"
        except OSError as exc:
            return str(exc)

    return check
