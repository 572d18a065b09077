"""Readiness and liveness probes (httpGet, tcpSocket, exec) with Kubernetes' timing rules."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from dask_kubernetes.common.pods import container_port
from dask_kubernetes.local.kubelet.confinement import UNCONFINED, Confinement


async def _http_get(
    session: aiohttp.ClientSession, spec: Mapping[str, Any], host: str, port: int, timeout: float
) -> bool:
    scheme = str(spec.get("scheme", "HTTP")).lower()
    url = f"{scheme}://{spec.get('host') or host}:{port}{spec.get('path', '/')}"
    headers = {h["name"]: h["value"] for h in spec.get("httpHeaders") or []}
    try:
        async with session.get(
            url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout), ssl=False
        ) as response:
            return 200 <= response.status < 400
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return False


async def _tcp_socket(host: str, port: int, timeout: float) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _exec(
    command: list[str], env: Mapping[str, str], timeout: float, confinement: Confinement
) -> bool:
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            env=dict(env),
            preexec_fn=confinement.apply,  # as the container: its user, its capabilities
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return False
    try:
        return await asyncio.wait_for(process.wait(), timeout) == 0
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        return False


async def probe_once(
    probe: Mapping[str, Any],
    *,
    pod_ip: str,
    container: Mapping[str, Any],
    env: Mapping[str, str],
    session: aiohttp.ClientSession,
    confinement: Confinement = UNCONFINED,
) -> bool:
    """Run one probe attempt (exec: confined as its container); an unknown probe kind counts as
    success, as in Kubernetes."""
    timeout = float(probe.get("timeoutSeconds", 1))
    if "httpGet" in probe:
        spec = probe["httpGet"]
        return await _http_get(
            session, spec, pod_ip, container_port(spec["port"], container), timeout
        )
    if "tcpSocket" in probe:
        spec = probe["tcpSocket"]
        port = container_port(spec["port"], container)
        return await _tcp_socket(spec.get("host") or pod_ip, port, timeout)
    if "exec" in probe:
        return await _exec(list(probe["exec"]["command"]), env, timeout, confinement)
    return True


class ProbeLoop:
    """Probe periodically and report the result once a threshold of equal results is reached."""

    def __init__(
        self,
        probe: Mapping[str, Any],
        attempt: Callable[[], Awaitable[bool]],
        on_change: Callable[[bool], None],
        *,
        initial: bool,
    ) -> None:
        self.period = float(probe.get("periodSeconds", 10))
        self.initial_delay = float(probe.get("initialDelaySeconds", 0))
        self.success_threshold = int(probe.get("successThreshold", 1))
        self.failure_threshold = int(probe.get("failureThreshold", 3))
        self._attempt = attempt
        self._on_change = on_change
        self.state = initial

    async def run(self) -> None:
        await asyncio.sleep(self.initial_delay)
        streak = 0
        while True:
            ok = await self._attempt()
            streak = streak + 1 if ok != self.state else 0
            threshold = self.success_threshold if ok else self.failure_threshold
            if ok != self.state and streak >= threshold:
                self.state = ok
                streak = 0
                self._on_change(ok)
            await asyncio.sleep(self.period)
