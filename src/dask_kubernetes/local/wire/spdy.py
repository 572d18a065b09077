"""`pods/portforward` the way kubectl speaks it: SPDY/3.1 streams, tunnelled over a WebSocket.

kubectl (1.31+, feature PortForwardWebsockets on by default) asks for the WebSocket subprotocol
`SPDY/3.1+portforward.k8s.io` and then runs a SPDY/3.1 session over the binary messages, as if
they were a TCP stream. For each local connection it opens two SPDY streams carrying the same
`requestID` and `port` headers: `streamType: error` (which it half-closes at once and reads to
the end, expecting nothing on success) and `streamType: data` (the bytes both ways).

This is the server half of just that: SYN_STREAM answered by SYN_REPLY, DATA relayed to and
from the pod port, FIN and RST_STREAM ending a pair, PING echoed, GOAWAY ending the session.
SPDY flow control (WINDOW_UPDATE) is not used by Kubernetes' spdystream and is ignored.
No Python SPDY library is maintained, hence this small one.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

SUBPROTOCOL = "SPDY/3.1+portforward.k8s.io"
VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1,
    2,
    3,
    4,
    6,
    7,
    8,
    9,
)
FLAG_FIN = 0x01
RST_CANCEL = 5
MAX_FRAME = 1 << 24  # a 24-bit length field

# The zlib dictionary SPDY/3 header blocks are compressed with (SPDY/3 draft, section 2.6.10.1):
# these header names and values, each preceded by its 4-byte big-endian length, then a tail.
_DICTIONARY_WORDS = (
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
)
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
    "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,"
    "application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch"
    "charset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
HEADER_DICTIONARY = (
    b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICTIONARY_WORDS)
    + _DICTIONARY_TAIL.encode()
)


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3: the session ends."""


def control_frame(kind: int, payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, flags << 24 | len(payload)) + payload


def data_frame(stream_id: int, payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, flags << 24 | len(payload)) + payload


def encode_headers(headers: dict[str, str]) -> bytes:
    block = struct.pack(">I", len(headers))
    for name, value in headers.items():
        for part in (name.lower().encode(), value.encode()):
            block += struct.pack(">I", len(part)) + part
    return block


def decode_headers(block: bytes) -> dict[str, str]:
    try:
        (count,) = struct.unpack_from(">I", block)
        offset, headers = 4, {}
        for _ in range(count):
            parts = []
            for _ in range(2):
                (size,) = struct.unpack_from(">I", block, offset)
                parts.append(block[offset + 4 : offset + 4 + size].decode())
                offset += 4 + size
            headers[parts[0]] = parts[1]
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"bad header block: {exc}") from None
    return headers


@dataclass
class _Pair:
    """The error and data streams of one forwarded connection (one `requestID`)."""

    port: int
    error_stream: int | None = None
    data_stream: int | None = None
    writer: asyncio.StreamWriter | None = None
    pending: list[bytes] = field(default_factory=list)
    client_done: bool = False
    task: asyncio.Task[None] | None = None


class PortForwardSession:
    """One kubectl port-forward session: feed it the client's bytes, it sends replies."""

    def __init__(self, send: Callable[[bytes], Awaitable[None]], address: str) -> None:
        self._send = send
        self._address = address
        self._buffer = b""
        self._inflate = zlib.decompressobj(zdict=HEADER_DICTIONARY)
        self._deflate = zlib.compressobj(zdict=HEADER_DICTIONARY)
        self._pairs: dict[str, _Pair] = {}
        self._by_stream: dict[int, _Pair] = {}
        self._lock = asyncio.Lock()
        self.closed = False

    async def feed(self, data: bytes) -> None:
        """Consume client bytes; whole frames are handled, a partial one waits for more."""
        self._buffer += data
        while len(self._buffer) >= 8 and not self.closed:
            (length,) = struct.unpack_from(">I", self._buffer, 4)
            length &= 0xFFFFFF
            if len(self._buffer) < 8 + length:
                return
            frame, self._buffer = self._buffer[: 8 + length], self._buffer[8 + length :]
            await self._handle(frame)

    async def close(self) -> None:
        self.closed = True
        pairs = list(self._pairs.values())
        for pair in pairs:
            if pair.task is not None:
                pair.task.cancel()
        for pair in pairs:
            if pair.task is not None:
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await pair.task
            if pair.writer is not None:
                pair.writer.close()

    async def _write(self, frame: bytes) -> None:
        async with self._lock:
            if not self.closed:
                await self._send(frame)

    async def _handle(self, frame: bytes) -> None:
        first, flags_length = struct.unpack_from(">II", frame)
        flags, payload = flags_length >> 24, frame[8:]
        if not first & 0x80000000:
            await self._on_data(first & 0x7FFFFFFF, flags, payload)
            return
        version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise ProtocolError(f"SPDY version {version}, expected {VERSION}")
        if kind == SYN_STREAM:
            await self._on_syn_stream(flags, payload)
        elif kind == RST_STREAM:
            (stream_id,) = struct.unpack_from(">I", payload)
            await self._on_reset(stream_id & 0x7FFFFFFF)
        elif kind == PING:
            await self._write(frame)  # echoed unchanged, as SPDY requires
        elif kind == GOAWAY:
            self.closed = True
        # SETTINGS, HEADERS, WINDOW_UPDATE: nothing to do for a port-forward.

    async def _on_syn_stream(self, flags: int, payload: bytes) -> None:
        if len(payload) < 10:
            raise ProtocolError("short SYN_STREAM")
        (stream_id,) = struct.unpack_from(">I", payload)
        stream_id &= 0x7FFFFFFF
        try:
            block = self._inflate.decompress(payload[10:])
        except zlib.error as exc:
            raise ProtocolError(f"header block does not inflate: {exc}") from None
        headers = decode_headers(block)
        reply = struct.pack(">I", stream_id) + self._compress({})
        await self._write(control_frame(SYN_REPLY, reply))
        kind, request_id = headers.get("streamtype"), headers.get("requestid", "")
        port_text = headers.get("port", "")
        if kind not in ("error", "data") or not port_text.isdigit():
            await self._reset(stream_id)
            return
        pair = self._pairs.setdefault(request_id, _Pair(port=int(port_text)))
        self._by_stream[stream_id] = pair
        if kind == "error":
            pair.error_stream = stream_id
        else:
            pair.data_stream = stream_id
            pair.client_done = bool(flags & FLAG_FIN)
        if pair.error_stream is not None and pair.data_stream is not None:
            pair.task = asyncio.create_task(self._forward(request_id, pair))

    def _compress(self, headers: dict[str, str]) -> bytes:
        block = encode_headers(headers)
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    async def _on_data(self, stream_id: int, flags: int, payload: bytes) -> None:
        pair = self._by_stream.get(stream_id)
        if pair is None or stream_id != pair.data_stream:
            return  # the error stream's FIN, or a stream already finished
        if pair.writer is None:
            pair.pending.append(payload)
        elif payload:
            pair.writer.write(payload)
            with contextlib.suppress(ConnectionError):
                await pair.writer.drain()
        if flags & FLAG_FIN:
            pair.client_done = True
            if pair.writer is not None and pair.writer.can_write_eof():
                with contextlib.suppress(OSError):
                    pair.writer.write_eof()

    async def _on_reset(self, stream_id: int) -> None:
        pair = self._by_stream.get(stream_id)
        if pair is not None and pair.task is not None and stream_id == pair.data_stream:
            pair.task.cancel()

    async def _reset(self, stream_id: int) -> None:
        await self._write(control_frame(RST_STREAM, struct.pack(">II", stream_id, RST_CANCEL)))

    async def _forward(self, request_id: str, pair: _Pair) -> None:
        """Connect to the pod port and copy its bytes back until either side is done."""
        assert pair.error_stream is not None and pair.data_stream is not None
        message = b""
        try:
            reader, pair.writer = await asyncio.open_connection(self._address, pair.port)
        except OSError as exc:
            message = (
                f"error forwarding port {pair.port} to pod at {self._address}: {exc}"
            ).encode()
        else:
            for chunk in pair.pending:
                pair.writer.write(chunk)
            pair.pending.clear()
            if pair.client_done and pair.writer.can_write_eof():
                pair.writer.write_eof()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while chunk := await reader.read(65536):
                    await self._write(data_frame(pair.data_stream, chunk))
        finally:
            if pair.writer is not None:
                pair.writer.close()
            self._pairs.pop(request_id, None)
        # End both streams: data first, then the error stream (empty unless it failed).
        await self._write(data_frame(pair.data_stream, b"", FLAG_FIN))
        if message:
            await self._write(data_frame(pair.error_stream, message))
        await self._write(data_frame(pair.error_stream, b"", FLAG_FIN))
