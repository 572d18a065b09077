"""A kube-proxy-like TCP forwarder: one listening address, connections spliced to a backend."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

Backend = tuple[str, int]

_CHUNK = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction; EOF is passed on as EOF, a reset or error as the end of `writer`.

    A peer that resets (a killed process) must not leave the other side's connection open:
    a Dask scheduler would keep the dead worker listed until its heartbeats time out.
    """
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, RuntimeError):
        writer.close()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, RuntimeError):
        await writer.wait_closed()


class TcpForwarder:
    """Listens on `host:port`; each connection goes to the backend `choose_backend()` returns then.

    No backend (no ready endpoint) means the connection is closed at once, like a Service without
    endpoints rejecting connections.
    """

    def __init__(
        self,
        host: str,
        port: int,
        choose_backend: Callable[[], Backend | None],
        *,
        sock: socket.socket | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._choose_backend = choose_backend
        # A listening socket made elsewhere, e.g. in the host namespace while backends are
        # connected from inside the cluster's (`local/real.py`).
        self._sock = sock
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self._sock is not None:
            self._server = await asyncio.start_server(self._accept, sock=self._sock)
        else:
            self._server = await asyncio.start_server(self._accept, self.host, self.port)
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._splice(reader, writer)
        except asyncio.CancelledError:
            # Cut by stop(): end quietly (asyncio's stream callback logs a cancelled task).
            await _close(writer)
        finally:
            self._connections.discard(task)

    async def _splice(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        backend = self._choose_backend()
        if backend is None:
            await _close(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*backend)
        except OSError:
            await _close(writer)
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            await _close(up_writer)
            await _close(writer)

    def stop_listening(self) -> None:
        """Refuse new connections but let open ones run on (as conntrack keeps them)."""
        if self._server is not None:
            self._server.close()

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    async def stop(self) -> None:
        """Stop listening and cut every open connection."""
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
