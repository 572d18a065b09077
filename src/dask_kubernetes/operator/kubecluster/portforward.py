"""Reach a ClusterIP Service from outside the cluster through the API server's `portforward`.

A Service port is forwarded to the pod port behind it (its `targetPort`), as `kubectl
port-forward svc/...` does: kr8s forwards to the pod port it is given, and the dask/dask
chart's dashboard is Service port 80 in front of the scheduler pod's 8787.

The forwards run on a private event loop in a thread of their own, so they keep serving while
the caller's loop is blocked (a synchronous `Client` call made from async code, for example).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from kr8s.asyncio.objects import Pod, Service
from kr8s.asyncio.portforward import PortForward

from .errors import KubeClusterError
from .kr8s_api import Api, connect, get_object, kubernetes_errors, list_objects

T = TypeVar("T")
logger = logging.getLogger(__name__)
STOP_TIMEOUT = 10.0  # a safety net against a wedged forward, never the normal way out
STOPPED_LATE = "port-forward shutdown did not finish within %.0f s; abandoned"
BIND_ATTEMPTS = 5


class ServicePortForwarder:
    """Local ports forwarded to one Service's ready pods, alive until `close()`."""

    def __init__(self, service_name: str, namespace: str) -> None:
        self.service_name = service_name
        self.namespace = namespace
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_quiet_about_cancellation)
        self._stack = contextlib.AsyncExitStack()
        self._thread = threading.Thread(
            target=self._loop.run_forever,
            name=f"KubeCluster port-forward {namespace}/{service_name}",
            daemon=True,
        )
        self._thread.start()
        self.ports: dict[int, int] = {}
        self._forwards: list[PortForward] = []

    async def forward(self, remote_port: int, local_port: int | None = None) -> int:
        """Forward 127.0.0.1:`local_port` (None: any free port) to the Service; return it."""
        if remote_port in self.ports:
            return self.ports[remote_port]
        port = await self._run(self._open(remote_port, local_port))
        self.ports[remote_port] = port
        return port

    async def _open(self, remote_port: int, local_port: int | None) -> int:
        with kubernetes_errors(namespace=self.namespace):
            api = await connect()
            service = await get_object(Service, self.service_name, self.namespace, api)
            target = await pod_port(service, remote_port, api)
        # A port chosen for us can be taken by another process before we bind it: try again.
        attempts = 1 if local_port else BIND_ATTEMPTS
        for attempt in range(attempts):
            port = local_port or _free_port()
            forward = PortForward(service, target, port)
            try:
                port = int(await self._stack.enter_async_context(forward))
            except OSError as exc:
                if attempt + 1 == attempts:
                    raise KubeClusterError(f"Cannot listen on local port {port}: {exc}") from None
                continue
            self._forwards.append(forward)
            return port
        raise AssertionError("unreachable")

    async def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if not self._thread.is_alive():
            coro.close()
            raise KubeClusterError("the port-forward has been closed")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    def close(self) -> None:
        """Stop every forward and the thread; safe to call twice."""
        if not self._thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        with contextlib.suppress(Exception):  # a forward failing as it stops is still stopped
            try:
                future.result(STOP_TIMEOUT)
            except concurrent.futures.TimeoutError:
                logger.warning(STOPPED_LATE, STOP_TIMEOUT)  # said, so a stall is never silent
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STOP_TIMEOUT)
        if not self._thread.is_alive():
            self._loop.close()

    async def _shutdown(self) -> None:
        """Stop listening, end the open connections, then leave kr8s' forwards.

        In this order because from Python 3.12 `asyncio.Server.wait_closed()`, which leaving a
        kr8s `PortForward` awaits, waits for every open connection: a client still connected
        (a user's `Client`, the dashboard in a browser) held `close()` for STOP_TIMEOUT.
        """
        for forward in self._forwards:
            for server in forward.servers:
                server.close()  # no new connections; the open ones are ended next
        current = asyncio.current_task()
        others = [task for task in asyncio.all_tasks() if task is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._stack.aclose()


async def pod_port(service: Any, port: int, api: Api) -> int:
    """The pod port behind Service port `port`: its `targetPort`, a number or the name of a
    container port of the Service's pods; `port` itself when the Service says nothing else."""
    for entry in service.raw["spec"].get("ports") or []:
        if entry.get("port") != port:
            continue
        target = entry.get("targetPort", port)
        if isinstance(target, int) or str(target).isdigit():
            return int(target)
        labels = service.raw["spec"].get("selector") or {}
        selector = ",".join(f"{key}={value}" for key, value in labels.items())
        if not selector:
            break
        for pod in await list_objects(Pod, service.namespace, api, label_selector=selector):
            for container in pod.raw["spec"].get("containers") or []:
                for named in container.get("ports") or []:
                    if named.get("name") == target:
                        return int(named["containerPort"])
    return port


def _free_port() -> int:
    """A port the kernel considers free right now (kr8s' own guess only probes by connecting)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _quiet_about_cancellation(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Closing cancels in-flight connections; asyncio's stream callback logs each as an error."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)
