"""A package index on 127.0.0.1 that serves files the way PyPI does, for `verify NAME==VERSION`.

Why: verifying straight from an index must be tested against the real protocol, not a mock of
our own fetch code: PEP 691 JSON pages (content-negotiated with `Accept`), files with their
sha256, each file's `provenance` URL (PEP 740), and PyPI's integrity API
(`/integrity/<project>/<version>/<file>/provenance`). A test edits `Release` entries to play an
attacker: swap the bytes, drop or swap the provenance, lie about the hash, or trickle a body
(`Trickle`: a little at a time, each piece quick, the whole slow).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO
from urllib.parse import unquote

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass
class Trickle:
    """Send a body in `pieces` parts, `pause` seconds apart; `finished` once all went out."""

    pieces: int
    pause: float
    finished: bool = False
    cut_off: bool = False  # the client closed the connection first

    def send(self, wfile: BinaryIO, body: bytes) -> None:
        size = -(-len(body) // self.pieces)
        try:
            for start in range(0, len(body), size):
                wfile.write(body[start : start + size])
                wfile.flush()
                time.sleep(self.pause)
        except OSError:  # BrokenPipeError, ConnectionResetError: the client gave up
            self.cut_off = True
            return
        self.finished = True


@dataclass
class Served:
    """One file as the index lists and serves it."""

    filename: str
    content: bytes
    provenance: bytes | None
    listed_sha256: str | None = None  # what the page claims; default: the content's
    provenance_key: str = "url"  # "url": the page links it; "absent": no key; "null": null
    trickle: Trickle | None = None  # how the file's bytes go out (default: all at once)

    def sha256(self) -> str:
        return self.listed_sha256 or hashlib.sha256(self.content).hexdigest()


@dataclass
class Index:
    """project -> version -> files; `requests` records every path asked for."""

    projects: dict[str, dict[str, list[Served]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Accept)
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location (a 302)
    page_trickle: Trickle | None = None  # how the JSON pages go out

    def add(self, project: str, version: str, served: Served) -> None:
        self.projects.setdefault(project, {}).setdefault(version, []).append(served)

    def page(self, project: str) -> dict[str, object] | None:
        versions = self.projects.get(project)
        if versions is None:
            return None
        files = []
        for version, served in versions.items():
            for item in served:
                entry: dict[str, object] = {
                    "filename": item.filename,
                    "url": f"../../files/{item.filename}",
                    "hashes": {"sha256": item.sha256()},
                    "size": len(item.content),
                }
                if item.provenance_key == "url":
                    entry["provenance"] = (
                        f"/integrity/{project}/{version}/{item.filename}/provenance"
                    )
                elif item.provenance_key == "null":
                    entry["provenance"] = None
                files.append(entry)
        return {"meta": {"api-version": "1.1"}, "name": project, "files": files}

    def find(self, filename: str) -> Served | None:
        for versions in self.projects.values():
            for served in versions.values():
                for item in served:
                    if item.filename == filename:
                        return item
        return None


def _handler(index: Index) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return None

        def _send(
            self, body: bytes, content_type: str, status: int = 200, trickle: Trickle | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if trickle is None:
                self.wfile.write(body)
            else:
                trickle.send(self.wfile, body)

        def do_GET(self) -> None:  # http.server's name
            path = unquote(self.path.split("?", 1)[0])
            index.requests.append((path, self.headers.get("Accept", "")))
            if path in index.redirects:
                self.send_response(302)
                self.send_header("Location", index.redirects[path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            parts = [p for p in path.split("/") if p]
            if len(parts) == 2 and parts[0] == "simple":
                page = index.page(parts[1])
                if page is not None and SIMPLE_JSON in self.headers.get("Accept", ""):
                    self._send(json.dumps(page).encode(), SIMPLE_JSON, trickle=index.page_trickle)
                    return
            if len(parts) == 2 and parts[0] == "files":
                item = index.find(parts[1])
                if item is not None:
                    self._send(item.content, "application/octet-stream", trickle=item.trickle)
                    return
            if len(parts) == 5 and parts[0] == "integrity" and parts[4] == "provenance":
                item = index.find(parts[3])
                if item is not None and item.provenance is not None:
                    self._send(item.provenance, "application/json")
                    return
            self._send(b"not found", "text/plain", 404)

    return Handler


@contextmanager
def serving(index: Index) -> Iterator[str]:
    """Serve `index` on 127.0.0.1 (a free port); yields the simple index URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(index))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
