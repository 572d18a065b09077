"""Operator start-up settings, the liveness probe and clean shutdown."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from dask_kubernetes.common.clock import now
from dask_kubernetes.operator.controller.kit.runtime import Runtime, runtime
from dask_kubernetes.operator.rest import Kube


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    # Re-open watches now and then: an idle watch can silently stop delivering events.
    settings.watching.server_timeout = 120
    settings.watching.client_timeout = 150
    settings.watching.connect_timeout = 5
    settings.networking.request_timeout = 30
    settings.posting.level = logging.INFO
    # API errors: retry soon, then back off.
    settings.networking.error_backoffs = [0.2, 0.5, 1, 2, 5]
    memo.runtime = Runtime(await Kube.connect())


@kopf.on.cleanup()
async def shutdown(memo: Any, **_: Any) -> None:
    if hasattr(memo, "runtime"):
        rt = runtime(memo)
        for task in rt.tasks:
            task.cancel()
        await asyncio.gather(*rt.tasks, return_exceptions=True)
        await rt.debouncer.close()


@kopf.on.probe(id="now")
def liveness(**_: Any) -> str:
    return now()
