"""The level-triggered loop both network agents run: a change sets a flag, one pass reconciles all.

Changes that arrive during a pass set the flag again, so they cost one more pass, never one each;
a failed pass is logged and retried shortly (the next change would repair it too).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

RETRY_SECONDS = 0.2


async def run_passes(
    wakeup: asyncio.Event,
    reconcile: Callable[[], Awaitable[None]],
    what: str,
    logger: logging.Logger,
) -> None:
    """Run `reconcile` whenever `wakeup` is set, forever (cancel the task to stop)."""
    while True:
        await wakeup.wait()
        wakeup.clear()
        try:
            await reconcile()
        except Exception as exc:  # keep serving; the next pass repairs
            logger.warning("%s pass failed: %s", what, exc, exc_info=True)
            await asyncio.sleep(RETRY_SECONDS)
            wakeup.set()
