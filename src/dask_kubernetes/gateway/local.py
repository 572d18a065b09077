"""A gateway on this machine, in front of a local stand-in: `dask kubernetes local --gateway`.

Starts `python -m dask_kubernetes.gateway` as a child process with a generated config (simple
authentication with a password made for this instance, the Go proxy on one local port for HTTP
and TLS, the backend pointed at the stand-in through its kubeconfig) and waits until the
gateway answers through the proxy. What a user's shell needs is in `exports`: the client
reads `DASK_GATEWAY__*` from the environment, so `dask_gateway.Gateway()` works with no
arguments and no KUBECONFIG. The tests start their gateways the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from dask_kubernetes.common.files import write_private

READY_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


class GatewayStartError(Exception):
    """The gateway process exited or did not answer in time."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalGateway:
    """A running local gateway: where it listens and how a client authenticates."""

    address: str
    password: str
    config_path: Path
    log_path: Path
    process: asyncio.subprocess.Process

    def client_env(self) -> dict[str, str]:
        """The `DASK_GATEWAY__*` settings that make `dask_gateway.Gateway()` find it."""
        return {
            "DASK_GATEWAY__ADDRESS": self.address,
            "DASK_GATEWAY__AUTH__TYPE": "basic",
            "DASK_GATEWAY__AUTH__KWARGS__PASSWORD": self.password,
        }

    def exports(self) -> list[str]:
        return [f"export {key}={value}" for key, value in self.client_env().items()]


def config_text(
    *,
    api_port: int,
    proxy_port: int,
    password: str,
    namespace: str,
    instance: str,
    extra: str = "",
    proxy_host: str = "127.0.0.1",
) -> str:
    return "\n".join(
        [
            "# written by dask_kubernetes.gateway.local",
            f"c.DaskGateway.address = '127.0.0.1:{api_port}'",
            f"c.Proxy.address = '{proxy_host}:{proxy_port}'",
            "c.DaskGateway.authenticator_class = 'dask_gateway_server.auth.SimpleAuthenticator'",
            f"c.SimpleAuthenticator.password = {password!r}",
            f"c.OperatorBackend.namespace = {namespace!r}",
            f"c.OperatorBackend.gateway_instance = {instance!r}",
            extra,
            "",
        ]
    )


async def _wait_ready(address: str, process: asyncio.subprocess.Process, log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            if process.returncode is not None:
                raise GatewayStartError(
                    f"the gateway exited ({process.returncode}); its log: {log}"
                )
            with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
                async with session.get(
                    f"{address}/api/health", timeout=aiohttp.ClientTimeout(total=5)
                ) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise GatewayStartError(f"the gateway did not answer at {address} within {READY_TIMEOUT:g} s")


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """SIGTERM (the gateway stops its proxy), then SIGKILL after `STOP_TIMEOUT`."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


@contextlib.asynccontextmanager
async def local_gateway(
    kubeconfig: str | Path,
    state_dir: Path,
    *,
    namespace: str = "default",
    instance: str = "dask-gateway",
    password: str | None = None,
    extra_config: str = "",
    proxy_port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[LocalGateway]:
    """Run a gateway against the cluster `kubeconfig` names until the block ends."""
    state_dir.mkdir(parents=True, exist_ok=True)
    password = password or secrets.token_urlsafe(24)
    proxy_port = proxy_port or free_port()
    config_path = state_dir / "dask_gateway_config.py"
    write_private(
        config_path,
        config_text(
            api_port=free_port(),
            proxy_port=proxy_port,
            password=password,
            namespace=namespace,
            instance=instance,
            extra=extra_config,
        ),
    )
    log_path = state_dir / "gateway.log"
    child_env = dict(os.environ) | dict(env or {}) | {"KUBECONFIG": str(kubeconfig)}
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dask_kubernetes.gateway",
            "--config",
            str(config_path),
            stdout=log,
            stderr=log,
            env=child_env,
            start_new_session=True,
        )
    address = f"http://127.0.0.1:{proxy_port}"
    try:
        await _wait_ready(address, process, log_path)
        yield LocalGateway(address, password, config_path, log_path, process)
    finally:
        await stop_process(process)


@contextlib.asynccontextmanager
async def gateway_lines(
    enabled: bool, kubeconfig: str | Path, state_dir: Path
) -> AsyncIterator[list[str]]:
    """For `dask kubernetes local --gateway`: the lines to print while the gateway runs."""
    if not enabled:
        yield []
        return
    async with local_gateway(kubeconfig, state_dir / "gateway") as gateway:
        yield [
            f"gateway: {gateway.address} (any user name, this instance's password; "
            f"log {gateway.log_path})",
            *gateway.exports(),
        ]
