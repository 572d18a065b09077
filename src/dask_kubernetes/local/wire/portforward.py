"""`pods/portforward` over WebSocket, in the two protocols clients ask for.

The channel protocol (kr8s): channel 2i carries data for the i-th port of `?ports=`, 2i+1 its
errors; each channel's first frame names the port. SPDY tunnelled over the WebSocket (kubectl,
subprotocol `SPDY/3.1+portforward.k8s.io`): the ports come in each stream's headers, see `spdy`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct

import aiohttp
from aiohttp import web

from dask_kubernetes.local.apimachinery.errors import APIError

from . import spdy

logger = logging.getLogger(__name__)
SUBPROTOCOLS = (spdy.SUBPROTOCOL, "v4.channel.k8s.io", "portforward.k8s.io")


def parse_ports(raw: list[str]) -> list[int]:
    ports = [int(p) for value in raw for p in value.split(",") if p.strip().isdigit()]
    if not ports or len(ports) != sum(len(v.split(",")) for v in raw):
        raise APIError(400, "portforward needs ports=PORT[,PORT...] with numeric ports")
    return ports


async def _pump_tcp(reader: asyncio.StreamReader, ws: web.WebSocketResponse, channel: int) -> None:
    while data := await reader.read(65536):
        await ws.send_bytes(bytes([channel]) + data)


async def _close_when_done(tasks: list[asyncio.Task[None]], ws: web.WebSocketResponse) -> None:
    """The pod side hung up: end the WebSocket so the client sees end of stream."""
    await asyncio.gather(*tasks, return_exceptions=True)
    await ws.close()


async def serve(
    request: web.Request, address: str, *, port_param: str = "ports"
) -> web.WebSocketResponse:
    """Serve whichever protocol the client chose; only the channel protocol takes `?ports=`
    (a kubelet is asked with `?port=`, repeated: `port_param="port"`)."""
    ws = web.WebSocketResponse(protocols=SUBPROTOCOLS)
    if spdy.SUBPROTOCOL not in _offered(request):
        ports = parse_ports(request.query.getall(port_param, []))
        await ws.prepare(request)
        return await _serve_channels(ws, address, ports)
    await ws.prepare(request)
    return await _serve_spdy(ws, address)


def _offered(request: web.Request) -> list[str]:
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


async def _serve_spdy(ws: web.WebSocketResponse, address: str) -> web.WebSocketResponse:
    session = spdy.PortForwardSession(ws.send_bytes, address)
    try:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                await session.feed(message.data)
            if session.closed:
                break
    except spdy.ProtocolError as exc:
        # Nothing sensible to answer in a broken session: say why here, and hang up.
        logger.warning("port-forward: ending a SPDY session: %s", exc)
    finally:
        await session.close()
        await ws.close()
    return ws


async def _serve_channels(
    ws: web.WebSocketResponse, address: str, ports: list[int]
) -> web.WebSocketResponse:
    writers: list[asyncio.StreamWriter] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        for index, port in enumerate(ports):
            header = struct.pack("<H", port)
            await ws.send_bytes(bytes([2 * index]) + header)
            await ws.send_bytes(bytes([2 * index + 1]) + header)
            try:
                reader, writer = await asyncio.open_connection(address, port)
            except OSError as error:
                await ws.send_bytes(bytes([2 * index + 1]) + str(error).encode())
                return ws
            writers.append(writer)
            tasks.append(asyncio.create_task(_pump_tcp(reader, ws, 2 * index)))
        closer = asyncio.create_task(_close_when_done(list(tasks), ws))
        tasks.append(closer)
        async for message in ws:
            if message.type != aiohttp.WSMsgType.BINARY or not message.data:
                continue
            channel, payload = message.data[0], message.data[1:]
            if channel % 2 == 0 and channel // 2 < len(writers) and payload:
                writers[channel // 2].write(payload)
                await writers[channel // 2].drain()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
        for writer in writers:
            writer.close()
        await ws.close()
    return ws
