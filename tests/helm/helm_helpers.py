"""Waiting and counting helpers for the HelmCluster tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float, what: str) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s")
        time.sleep(0.2)
    return result


def times_computed(client: Any, keys: list[str]) -> dict[str, int]:
    """How often the scheduler sent each key to a worker (its transitions into `processing`)."""

    def count(dask_scheduler: Any, keys: list[str]) -> dict[str, int]:
        return {
            key: sum(1 for entry in dask_scheduler.story(key) if entry[2] == "processing")
            for key in keys
        }

    result: dict[str, int] = client.run_on_scheduler(count, keys=keys)
    return result


def worker_count(client: Any) -> int:
    return len(client.scheduler_info()["workers"])
