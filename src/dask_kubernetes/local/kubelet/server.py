"""The kubelet API the real API server calls: container logs and port-forward, over mutual TLS.

`kubectl logs`, `kubectl port-forward` and kr8s' port-forward reach a pod through the API server,
which connects to the node's `daemonEndpoints.kubeletEndpoint` with its kubelet-client certificate.
Clients must present a certificate from the cluster's CA (else the handshake fails) whose subject
is one of `allowed_clients` (else 403): whoever else can reach this port, e.g. a pod, gets nothing.

Two ways in share the port:
- `GET /containerLogs/NS/POD/CONTAINER` and the WebSocket port-forward (`portforward.k8s.io`,
  `v4.channel.k8s.io`, which the API server passes through from kr8s) go to aiohttp;
- the API server speaks plain SPDY/3.1 to a kubelet for kubectl's port-forward (it unwraps the
  WebSocket tunnel kubectl sends it). aiohttp does not hand over a connection upgraded to anything
  but WebSocket, so a small front reads each connection's request head first: an SPDY upgrade is
  answered 101 and fed to the emulator's SPDY port-forward session, any other request is handed,
  bytes and all, to aiohttp's protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from dask_kubernetes.local.apimachinery.errors import APIError
from dask_kubernetes.local.wire import portforward, spdy
from dask_kubernetes.local.wire.logfiles import follow, log_path, select

logger = logging.getLogger(__name__)

PodAddress = Callable[[str, str], "str | None"]  # (namespace, pod) -> pod IP, if it runs here
Finished = Callable[[str, str, str], bool]  # (namespace, pod, container) -> no more output
_MAX_HEAD = 64 * 1024


def _common_name(peercert: dict[str, Any] | None) -> str | None:
    for rdn in (peercert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def _flag(query: Any, name: str) -> bool:
    return str(query.get(name, "")).lower() in ("true", "1")


def _int(query: Any, name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as error:
        raise web.HTTPBadRequest(text=f"{name} must be an integer") from error


class KubeletServer:
    """`await start()` / `await stop()`; serves on `address:port` with `serving` from `ca`."""

    def __init__(
        self,
        state_dir: Path,
        address: str,
        port: int,
        *,
        serving: tuple[Path, Path],
        ca: Path,
        allowed_clients: frozenset[str],
        pod_address: PodAddress,
        finished: Finished,
    ) -> None:
        self.state_dir = state_dir
        self.address = address
        self.port = port
        self.allowed_clients = allowed_clients
        self.pod_address = pod_address
        self.finished = finished
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca))
        self._ssl.load_cert_chain(str(serving[0]), str(serving[1]))
        self._ssl.verify_mode = ssl.CERT_REQUIRED
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        app.router.add_route("*", "/portForward/{namespace}/{pod}", self._port_forward)
        self._runner = web.AppRunner(app, handle_signals=False)
        self._server: asyncio.AbstractServer | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._runner.setup()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Front(self), self.address, self.port, ssl=self._ssl
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)
        await self._runner.cleanup()

    def allowed(self, peercert: dict[str, Any] | None) -> bool:
        return _common_name(peercert) in self.allowed_clients

    def _address(self, request: web.Request) -> str:
        address = self.pod_address(request.match_info["namespace"], request.match_info["pod"])
        if address is None:
            raise web.HTTPNotFound(text="pod not found on this node")
        return address

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        namespace, pod = request.match_info["namespace"], request.match_info["pod"]
        container = request.match_info["container"]
        query = request.query
        previous = _flag(query, "previous")
        path = log_path(self.state_dir, namespace, pod, container, previous)
        if not path.exists() and not _flag(query, "follow"):
            raise web.HTTPNotFound(text=f"no log for container {container} of {namespace}/{pod}")
        data = path.read_bytes() if path.exists() else b""
        body = select(data, _int(query, "tailLines"), _int(query, "limitBytes"))
        if not _flag(query, "follow") or previous:
            return web.Response(body=body, content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(body)
        with contextlib.suppress(ConnectionResetError):
            await follow(
                response.write, path, len(data), lambda: self.finished(namespace, pod, container)
            )
            await response.write_eof()
        return response

    async def _port_forward(self, request: web.Request) -> web.StreamResponse:
        address = self._address(request)
        try:
            return await portforward.serve(request, address, port_param="port")
        except APIError as error:
            raise web.HTTPBadRequest(text=str(error)) from error

    # -- the SPDY way in ------------------------------------------------------------------------

    def spdy_session(self, head: dict[str, str], path: str, transport: asyncio.Transport) -> _Spdy:
        parts = path.split("?", 1)[0].strip("/").split("/")
        address = None
        if len(parts) == 3 and parts[0] == "portForward":
            address = self.pod_address(parts[1], parts[2])
        return _Spdy(self, transport, address)


class _Spdy:
    """One raw SPDY/3.1 port-forward session on an upgraded connection."""

    def __init__(self, server: KubeletServer, transport: asyncio.Transport, address: str | None):
        self.transport = transport
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.address = address
        self.task = asyncio.get_running_loop().create_task(self._run())
        server._sessions.add(self.task)
        self.task.add_done_callback(server._sessions.discard)

    async def _send(self, frame: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(frame)

    async def _run(self) -> None:
        if self.address is None:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            self.transport.close()
            return
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
            b"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n"
        )
        session = spdy.PortForwardSession(self._send, self.address)
        try:
            while (data := await self.queue.get()) is not None:
                await session.feed(data)
                if session.closed:
                    break
        except spdy.ProtocolError as exc:
            logger.warning("kubelet port-forward: ending a SPDY session: %s", exc)
        finally:
            await session.close()
            self.transport.close()


class _Front(asyncio.Protocol):
    """Reads one request head, checks the client's identity, then routes the connection."""

    def __init__(self, server: KubeletServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.spdy: _Spdy | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.server.allowed(transport.get_extra_info("peercert")):
            body = b"Forbidden: only the API server's kubelet client may call this kubelet\n"
            transport.write(
                b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            transport.close()

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return
        if self.spdy is not None:
            self.spdy.queue.put_nowait(data)
            return
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > _MAX_HEAD:
                self.transport.close()
            return
        head_lines = self.buffer[:end].decode("latin-1").split("\r\n")
        headers = {}
        for line in head_lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        request_line = head_lines[0].split(" ")
        if headers.get("upgrade", "").lower().startswith("spdy/") and len(request_line) >= 2:
            self.spdy = self.server.spdy_session(headers, request_line[1], self.transport)
            rest = self.buffer[end + 4 :]
            if rest:
                self.spdy.queue.put_nowait(rest)
            return
        # Anything else is aiohttp's: hand over the connection with the bytes read so far.
        factory = self.server._runner.server
        assert factory is not None
        handler = factory()
        self.transport.set_protocol(handler)
        handler.connection_made(self.transport)
        handler.data_received(self.buffer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.spdy is not None:
            self.spdy.queue.put_nowait(None)
