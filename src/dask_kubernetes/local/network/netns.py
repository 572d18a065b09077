"""The network namespace one real-plane local cluster lives in.

The real API server refuses loopback addresses in Endpoints/EndpointSlices and will not proxy to
them, so pods need ordinary pod IPs and Services ordinary ClusterIPs. They exist only inside a
namespace we create: `lo` up and three *local* routes (pod CIDR, service CIDR, the node address),
so any process in it may bind any of those addresses without adding one per pod, and no packet can
leave because the namespace has no other interface.

Code enters it in two ways: child processes are started from a thread that entered it (a forked
child keeps its parent thread's namespace), and sockets are created on such a thread (a socket
stays in the namespace it was made in, whichever thread uses it later). Python 3.11 has no
`os.setns`, hence libc's `setns(2)` through ctypes.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

NETNS_DIR = Path("/run/netns")
PREFIX = "dk-"
POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/12"
# The node's (and API server's) address: outside both CIDRs, a /32 of its own.
NODE_ADDRESS = "10.240.0.1"
LOCAL_ROUTES = (POD_CIDR, SERVICE_CIDR, f"{NODE_ADDRESS}/32")
# A container node: pod IPs live in pods' own namespaces behind the node's bridge, so the pod CIDR
# is *not* local here; ClusterIPs stay local (kube-proxy DNATs them before routing anyway).
CONTAINER_NODE_ROUTES = (SERVICE_CIDR,)
# Where the host reaches the cluster: the API server's forwarder and every node port listen here,
# in the host namespace; the node lists it as its ExternalIP so clients prefer it.
HOST_ADDRESS = "127.0.0.1"
_CLONE_NEWNET = 0x40000000


class NetnsError(Exception):
    """The namespace cannot be made or entered (most often: not root)."""


def require_root() -> None:
    if os.geteuid() != 0:
        raise NetnsError(
            "the real control plane runs in a network namespace of its own: run as root"
        )


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {result.stderr.strip() or result.returncode}")


def namespace_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def delete_namespace(name: str) -> None:
    """Remove the namespace (idempotent); its routes go with it."""
    if namespace_exists(name):
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)


def _setns(fd: int, name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise NetnsError(f"setns into {name}: {os.strerror(error)}")


def enter(name: str) -> None:
    """Move the calling *thread* into namespace `name`."""
    fd = os.open(NETNS_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(fd, name)
    finally:
        os.close(fd)


def listen_in(namespace_fd: int, host: str, port: int) -> socket.socket:
    """A listening TCP socket made in the namespace `namespace_fd` refers to, from any thread:
    a short-lived thread enters it, so the caller's own namespace is left as it is."""
    made: Future[socket.socket] = Future()

    def make() -> None:
        try:
            _setns(namespace_fd, "the host namespace")
            made.set_result(socket.create_server((host, port)))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            made.set_exception(exc)

    thread = threading.Thread(target=make, name="listen-in-namespace", daemon=True)
    thread.start()
    thread.join()
    return made.result()


class NetworkNamespace:
    """`create()` one, `delete()` it; `name` is `dk-<8 hex>`."""

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    def create(
        cls,
        name: str | None = None,
        *,
        local_routes: tuple[str, ...] = LOCAL_ROUTES,
        addresses: tuple[str, ...] = (),
    ) -> NetworkNamespace:
        """`local_routes` on `lo` (the process node's pods bind any pod IP through them);
        `addresses` on `lo` for a node that must *own* its address (the real kubelet checks that
        its node IP is on an interface; a container node routes pod IPs to its bridge instead)."""
        require_root()
        namespace = cls(name or f"{PREFIX}{secrets.token_hex(4)}")
        _ip("netns", "add", namespace.name)
        try:
            _ip("-n", namespace.name, "link", "set", "lo", "up")
            for cidr in local_routes:
                _ip("-n", namespace.name, "route", "add", "local", cidr, "dev", "lo")
            for address in addresses:
                _ip("-n", namespace.name, "address", "add", address, "dev", "lo")
        except BaseException:
            namespace.delete()
            raise
        return namespace

    def delete(self) -> None:
        delete_namespace(self.name)

    def exec_prefix(self) -> list[str]:
        """argv prefix running a command inside (used by tests and tools from the host side)."""
        return ["ip", "netns", "exec", self.name]


class NamespaceLoop:
    """A thread that entered the namespace and runs an asyncio loop: everything of the node
    (kubelet, network agent, the plane's processes, their health checks) runs on it."""

    def __init__(self, namespace: NetworkNamespace) -> None:
        self.namespace = namespace
        # The namespace of the thread that made this loop (the host's), for `listen_on_host`.
        self._host_namespace = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.loop = asyncio.new_event_loop()
        self._entered: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._main, name=f"netns-{namespace.name}", daemon=True
        )

    def _main(self) -> None:
        try:
            enter(self.namespace.name)
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            self._entered.set_exception(exc)
            return
        self._entered.set_result(None)
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        self._entered.result(timeout=30)

    def listen_on_host(self, host: str, port: int) -> socket.socket:
        """A listening socket in the host's namespace, callable from the namespace's thread
        (node ports: the host connects to it, the backends are dialled from inside)."""
        return listen_in(self._host_namespace, host, port)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro` running on the namespace's loop, from any other loop."""
        return await asyncio.wrap_future(self.submit(coro))

    async def call(self, function: Callable[[], T]) -> T:
        """Run a blocking `function` on the namespace's thread (its loop waits meanwhile)."""

        async def call() -> T:
            return function()

        return await self.run(call())

    def stop(self) -> None:
        try:
            self._stop_thread()
        finally:
            if self._host_namespace >= 0:
                os.close(self._host_namespace)
                self._host_namespace = -1

    def _stop_thread(self) -> None:
        if not self._thread.is_alive():
            return

        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.submit(drain()).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()
