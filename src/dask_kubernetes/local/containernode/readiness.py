"""Awaiting a node component: poll a check until it holds, failing fast when the process exits.

The same contract as the plane's health checks (`controlplane/process.py`): a bounded deadline
that holds under load, the log's last lines in the error, never a fixed sleep.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

from dask_kubernetes.local.controlplane.process import POLL_SECONDS, ComponentError, Process


def await_condition(
    process: Process, check: Callable[[], str | None], timeout: float, what: str
) -> None:
    """`check()` returns None when ready, else why not yet; raise when `process` exits first or
    the deadline passes."""
    deadline = time.monotonic() + timeout
    last = "not checked yet"
    while time.monotonic() < deadline:
        if process.popen is None or process.popen.poll() is not None:
            code = process.popen.returncode if process.popen else None
            raise ComponentError(
                f"{process.name} exited ({code}) before {what}: {process.log_tail()}"
            )
        answer = check()
        if answer is None:
            return
        last = answer
        time.sleep(POLL_SECONDS)
    raise ComponentError(
        f"{process.name}: no {what} after {timeout:.0f}s ({last}): {process.log_tail()}"
    )


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
