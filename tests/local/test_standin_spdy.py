"""The stand-in's SPDY/3.1 port-forward session, attacked frame by frame (kubectl's own use of
it is tested end to end in test_standin_kubectl_upstream_docs.py)."""

from __future__ import annotations

import asyncio
import hashlib
import struct
import zlib

import pytest

from dask_kubernetes.local.wire import spdy

# sha256 of the SPDY/3 header dictionary (SPDY/3 draft 2.6.10.1; Go's spdystream has the same).
DICTIONARY_SHA256 = "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02"


class Peer:
    """The client side: compresses headers as client-go does and parses what comes back."""

    def __init__(self) -> None:
        self.deflate = zlib.compressobj(zdict=spdy.HEADER_DICTIONARY)
        self.inflate = zlib.decompressobj(zdict=spdy.HEADER_DICTIONARY)
        self.received = b""

    async def send(self, data: bytes) -> None:
        self.received += data

    def syn_stream(self, stream_id: int, headers: dict[str, str], flags: int = 0) -> bytes:
        block = spdy.encode_headers(headers)
        packed = self.deflate.compress(block) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        body = struct.pack(">IIBB", stream_id, 0, 0, 0) + packed
        return spdy.control_frame(spdy.SYN_STREAM, body, flags)

    def frames(self) -> list[tuple[str, int, int, bytes]]:
        """(kind, stream id or control type, flags, payload) for each frame received so far."""
        out, data = [], self.received
        while data:
            first, flags_length = struct.unpack_from(">II", data)
            length = flags_length & 0xFFFFFF
            payload, data = data[8 : 8 + length], data[8 + length :]
            if first & 0x80000000:
                out.append(("control", first & 0xFFFF, flags_length >> 24, payload))
            else:
                out.append(("data", first, flags_length >> 24, payload))
        return out


def test_dictionary_is_the_protocols() -> None:
    assert hashlib.sha256(spdy.HEADER_DICTIONARY).hexdigest() == DICTIONARY_SHA256


@pytest.mark.asyncio
async def test_ping_is_echoed() -> None:
    peer = Peer()
    session = spdy.PortForwardSession(peer.send, "127.0.0.1")
    ping = spdy.control_frame(spdy.PING, struct.pack(">I", 7))
    await session.feed(ping[:5])  # a partial frame waits for the rest
    assert peer.received == b""
    await session.feed(ping[5:])
    assert peer.received == ping


@pytest.mark.asyncio
async def test_wrong_version_ends_the_session() -> None:
    session = spdy.PortForwardSession(Peer().send, "127.0.0.1")
    frame = struct.pack(">HHI", 0x8000 | 2, spdy.PING, 4) + b"\0\0\0\1"
    with pytest.raises(spdy.ProtocolError, match="version 2"):
        await session.feed(frame)


@pytest.mark.asyncio
async def test_a_corrupt_header_block_ends_the_session() -> None:
    session = spdy.PortForwardSession(Peer().send, "127.0.0.1")
    body = struct.pack(">IIBB", 1, 0, 0, 0) + b"\x78\xbb" + b"\xff" * 16  # not deflate data
    with pytest.raises(spdy.ProtocolError):
        await session.feed(spdy.control_frame(spdy.SYN_STREAM, body))


@pytest.mark.asyncio
async def test_a_stream_without_port_is_reset() -> None:
    peer = Peer()
    session = spdy.PortForwardSession(peer.send, "127.0.0.1")
    await session.feed(peer.syn_stream(1, {"streamtype": "data", "requestid": "0"}))
    kinds = [(kind, code) for kind, code, _, _ in peer.frames()]
    assert kinds == [("control", spdy.SYN_REPLY), ("control", spdy.RST_STREAM)]


@pytest.mark.asyncio
async def test_a_stream_pair_relays_to_the_port_and_finishes_both_streams() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"echo:" + await reader.read())  # until the client's FIN
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    peer = Peer()
    session = spdy.PortForwardSession(peer.send, "127.0.0.1")
    try:
        common = {"port": str(port), "requestid": "0"}
        await session.feed(peer.syn_stream(1, {"streamtype": "error", **common}, spdy.FLAG_FIN))
        await session.feed(peer.syn_stream(3, {"streamtype": "data", **common}))
        await session.feed(spdy.data_frame(3, b"hello"))
        await session.feed(spdy.data_frame(3, b"", spdy.FLAG_FIN))
        for _ in range(200):
            if (("data", 1, spdy.FLAG_FIN, b"")) in peer.frames():
                break
            await asyncio.sleep(0.01)
    finally:
        await session.close()
        server.close()
        await server.wait_closed()
    frames = peer.frames()
    data = b"".join(p for kind, sid, _, p in frames if kind == "data" and sid == 3)
    assert data == b"echo:hello"
    assert ("data", 3, spdy.FLAG_FIN, b"") in frames
    assert ("data", 1, spdy.FLAG_FIN, b"") in frames  # the error stream: empty, finished
    assert not [p for kind, sid, _, p in frames if kind == "data" and sid == 1 and p]
