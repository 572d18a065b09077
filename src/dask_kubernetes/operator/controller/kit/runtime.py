"""Shared operator state: the API client, locks, debounced reconciles and write expectations."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from dask_kubernetes.operator.controller.kit.cache import Expectations, Ghosts
from dask_kubernetes.operator.controller.kit.events import Refusals
from dask_kubernetes.operator.controller.kit.status import StatusWriter
from dask_kubernetes.operator.rest import Kube

logger = logging.getLogger(__name__)


class Debouncer:
    """Coalesce bursts of triggers (e.g. 200 pod events) into one run per key."""

    def __init__(self, delay: float = 0.5) -> None:
        self._delay = delay
        self._pending: dict[str, asyncio.Task[None]] = {}

    def trigger(self, key: str, run: Callable[[], Awaitable[None]]) -> None:
        if key in self._pending:
            return
        self._pending[key] = asyncio.get_running_loop().create_task(self._run(key, run))

    async def _run(self, key: str, run: Callable[[], Awaitable[None]]) -> None:
        try:
            await asyncio.sleep(self._delay)
            del self._pending[key]
            await run()
        except Exception:  # the periodic timer retries; log and carry on
            logger.exception("background reconcile of %s failed; the timer will retry", key)

    async def close(self) -> None:
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class Runtime:
    kube: Kube
    locks: defaultdict[str, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
    debouncer: Debouncer = field(default_factory=Debouncer)
    expectations: Expectations = field(default_factory=Expectations)
    ghosts: Ghosts = field(default_factory=Ghosts)
    status: StatusWriter = field(default_factory=StatusWriter)
    refusals: Refusals = field(default_factory=Refusals)
    #: Background tasks (the periodic reconciles), cancelled at shutdown.
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def runtime(memo: Any) -> Runtime:
    rt: Runtime = memo.runtime
    return rt
