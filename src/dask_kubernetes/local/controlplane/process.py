"""One control-plane process: start it with its log in a file, await its health endpoint, stop it.

Readiness is an awaited condition: the health URL is polled (with the component's client
certificate, verifying its serving certificate against our CA) until it answers 200, the process
exits, or the deadline passes; never a fixed sleep. Stopping signals only the PID we started
(SIGTERM, then SIGKILL after a grace period) and reaps it.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LOOPBACK = "127.0.0.1"
POLL_SECONDS = 0.1


class ComponentError(Exception):
    """A component did not start, exited early, or never became healthy."""


def free_port() -> int:
    """A port the kernel just handed out on loopback (closed again; the component binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class TLSClient:
    """How we (the test harness / plane) talk to a component: CA to verify it, our client cert."""

    ca: Path
    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


class Process:
    """A started binary; `name` is for messages, `log` collects its stdout and stderr."""

    def __init__(
        self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log = log
        self._log_handle: IO[bytes] | None = None
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_handle = self.log.open("ab")
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log_handle,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        except OSError as exc:
            self._close_log()
            raise ComponentError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:]) or "(empty log)"

    def await_condition(self, check: Callable[[], str | None], timeout: float, what: str) -> None:
        """Poll `check()` (None when it holds, else why not yet) until it holds; fail at once if
        the process exits, or at the deadline, with the last answer and the log's tail."""
        deadline = time.monotonic() + timeout
        last = "not checked yet"
        while time.monotonic() < deadline:
            if self.popen is None or self.popen.poll() is not None:
                code = self.popen.returncode if self.popen else None
                raise ComponentError(
                    f"{self.name} exited ({code}) before {what}: {self.log_tail()}"
                )
            answer = check()
            if answer is None:
                return
            last = answer
            time.sleep(POLL_SECONDS)
        raise ComponentError(
            f"{self.name}: no {what} after {timeout:.0f}s ({last}): {self.log_tail()}"
        )

    def await_healthy(self, url: str, client: TLSClient, timeout: float) -> None:
        """Poll `url` until it answers 200; fail fast if the process exits."""
        context = client.context()

        def healthy() -> str | None:
            try:
                with urllib.request.urlopen(url, context=context, timeout=2) as answer:  # noqa: S310
                    return None if answer.status == 200 else f"HTTP {answer.status}"
            except urllib.error.HTTPError as exc:
                return f"HTTP {exc.code}: {exc.read()[:200]!r}"
            except (OSError, ssl.SSLError) as exc:
                return str(exc)

        self.await_condition(healthy, timeout, f"healthy at {url}")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM our PID, SIGKILL it after `grace` seconds, and reap it."""
        popen, self.popen = self.popen, None
        if popen is not None and popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    popen.kill()
                popen.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
