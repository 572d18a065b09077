"""The port-forward's shutdown safety net is never silent: when `close()` gives up on a wedged
shutdown it says so, which is what test_e2e_port_forward_stop reads instead of a wall clock."""

from __future__ import annotations

import asyncio
import logging

import pytest

from dask_kubernetes.operator.kubecluster import portforward


def test_a_wedged_shutdown_is_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    forwarder = portforward.ServicePortForwarder("svc", "ns")

    async def wedged() -> None:
        await asyncio.Event().wait()  # never set: a shutdown that never finishes

    monkeypatch.setattr(forwarder, "_shutdown", wedged)
    monkeypatch.setattr(portforward, "STOP_TIMEOUT", 0.2)
    with caplog.at_level(logging.WARNING, logger=portforward.__name__):
        forwarder.close()
    assert "did not finish within" in caplog.text


def test_a_prompt_shutdown_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    forwarder = portforward.ServicePortForwarder("svc", "ns")
    with caplog.at_level(logging.WARNING, logger=portforward.__name__):
        forwarder.close()
    assert "did not finish within" not in caplog.text
    assert not forwarder._thread.is_alive()
