"""`pods/portforward` over WebSocket (the channel protocol kr8s and client-go's websocket path
speak): channel 2i carries data for the i-th port, 2i+1 its errors; each channel's first frame
names the port."""

from __future__ import annotations

import asyncio
import contextlib
import struct

import aiohttp
from aiohttp import web

from .errors import APIError

SUBPROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")


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


async def serve(request: web.Request, address: str, ports: list[int]) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=SUBPROTOCOLS)
    await ws.prepare(request)
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
