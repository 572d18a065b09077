"""Loopback plumbing: a TLS front for servers that speak plain HTTP, and a CONNECT tunnel.

Why: Fulcio's HTTP API, the tesseract CT log and the timestamp authority listen without TLS;
each gets a TLS front on loopback, so every client (sigstore-python, and Fulcio itself when it
submits to the CT log) talks TLS, verified against the instance's TLS root. Fulcio looks up
GitHub's issuer, https://token.actions.githubusercontent.com, by that very URL (it is what the
certificate's issuer extension must say): Fulcio is started with HTTPS_PROXY pointing at
`Tunnel`, which connects that one host, and no other, to our issuer on loopback. The TLS inside
the tunnel is end to end: Fulcio checks the issuer's certificate for GitHub's host name.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
from pathlib import Path

from dask_kubernetes_release.localsigstore.pki import LOOPBACK


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _splice(one: socket.socket, other: socket.socket) -> None:
    """Copy bytes both ways until both sides are done, then close both."""
    back = threading.Thread(target=_pump, args=(other, one), daemon=True)
    back.start()
    _pump(one, other)
    back.join(timeout=120)
    for sock in (one, other):
        with contextlib.suppress(OSError):
            sock.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: type[socketserver.BaseRequestHandler]) -> None:
        super().__init__((LOOPBACK, 0), handler)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=30)


class _TLSHandler(socketserver.BaseRequestHandler):
    server: TLSFront

    def handle(self) -> None:
        try:
            client = self.server.context.wrap_socket(self.request, server_side=True)
            backend = socket.create_connection((LOOPBACK, self.server.backend_port), timeout=60)
        except (OSError, ssl.SSLError):
            return
        backend.settimeout(None)
        _splice(client, backend)


class TLSFront(_Server):
    """https://127.0.0.1:`port` in front of http://127.0.0.1:`backend_port`."""

    def __init__(self, backend_port: int, cert: Path, key: Path) -> None:
        self.backend_port = backend_port
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        super().__init__(_TLSHandler)


class _TunnelHandler(socketserver.StreamRequestHandler):
    server: Tunnel

    def handle(self) -> None:
        request = self.rfile.readline(4096).decode("latin-1").split()
        while self.rfile.readline(4096) not in (b"\r\n", b"\n", b""):
            pass  # the CONNECT request's headers: nothing in them matters
        if len(request) < 2 or request[0] != "CONNECT" or request[1] not in self.server.routes:
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            backend = socket.create_connection((LOOPBACK, self.server.routes[request[1]]), 60)
        except OSError:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        backend.settimeout(None)
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        _splice(self.connection, backend)


class Tunnel(_Server):
    """An HTTP CONNECT proxy that reaches only `routes` ("host:443" -> a loopback port)."""

    def __init__(self, routes: dict[str, int]) -> None:
        self.routes = routes
        super().__init__(_TunnelHandler)
