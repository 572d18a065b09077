"""Container log files: where the kubelet writes them and how a reader selects and tails them.

One definition for both readers: the emulator's `pods/log` (`apiserver/logs.py`) and the kubelet
API's `containerLogs` that the real API server calls (`kubelet/server.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

POLL_SECONDS = 0.1


def log_path(state_dir: Path, namespace: str, pod: str, container: str, previous: bool) -> Path:
    """STATE_DIR/logs/NS/POD/CONTAINER.log (the instance before a restart: .previous.log)."""
    suffix = ".previous.log" if previous else ".log"
    return state_dir / "logs" / namespace / pod / f"{container}{suffix}"


def select(data: bytes, tail_lines: int | None, limit_bytes: int | None) -> bytes:
    """`tailLines` first, then `limitBytes`, as the kubelet applies them."""
    if tail_lines is not None:
        lines = data.splitlines(keepends=True)
        data = b"".join(lines[-tail_lines:]) if tail_lines > 0 else b""
    if limit_bytes is not None:
        data = data[:limit_bytes]
    return data


async def follow(
    write: Callable[[bytes], Awaitable[None]],
    path: Path,
    offset: int,
    finished: Callable[[], bool],
) -> None:
    """Write what `path` grows by from `offset` on, until `finished()` (checked before reading,
    so the last lines written before the end are still sent)."""
    while True:
        done = finished()
        if path.exists():
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            if chunk:
                offset += len(chunk)
                await write(chunk)
        if done:
            return
        await asyncio.sleep(POLL_SECONDS)
