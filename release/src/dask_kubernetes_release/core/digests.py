"""The three digests PyPI shows for a file, computed in one pass over it (or sha256 alone).

PyPI lists sha256, md5 and blake2b with a 32-byte digest ("BLAKE2b-256"). hashlib releases the
GIL while it hashes a large buffer, so each digest gets its own thread and every chunk read is
fed to all three at once: the file is read once and the wall time approaches the slowest digest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
import queue
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

CHUNK_SIZE = 4 * 1024 * 1024
# Below this, threads cost more than they save.
THREADED_FROM = 2 * CHUNK_SIZE
_POOL = 4  # buffers in flight: at most _POOL * CHUNK_SIZE bytes held


class Readable(Protocol):
    """A binary file or stream (raw or buffered) that can fill a buffer."""

    def readinto(self, buffer: bytearray, /) -> int | None: ...


class _Hash(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...


def _sha256() -> _Hash:
    return hashlib.sha256()


def _md5() -> _Hash:
    return hashlib.md5(usedforsecurity=False)


def _blake2b_256() -> _Hash:
    return hashlib.blake2b(digest_size=32)


ALGORITHMS: dict[str, Callable[[], _Hash]] = {
    "sha256": _sha256,
    "md5": _md5,
    "blake2b_256": _blake2b_256,
}


@dataclasses.dataclass(frozen=True)
class FileDigests:
    size: int
    sha256: str
    md5: str
    blake2b_256: str


def digest_file(path: Path) -> FileDigests:
    """Digest one file (OSError if it cannot be read)."""
    with Path(path).open("rb", buffering=0) as stream:
        info = os.fstat(stream.fileno())
        size_hint = info.st_size if stat.S_ISREG(info.st_mode) else None
        return digest_stream(stream, size_hint=size_hint)


def sha256_file(path: Path) -> str:
    """Only the sha256, the one digest attestations name: no md5 or BLAKE2b work, no threads."""
    h = hashlib.sha256()
    with Path(path).open("rb", buffering=0) as stream:
        _feed_inline(stream, [h])
    return h.hexdigest()


def digest_stream(stream: Readable, *, size_hint: int | None = None) -> FileDigests:
    """Digest everything left in `stream`; threaded unless it is known to be small."""
    hashes = {name: make() for name, make in ALGORITHMS.items()}
    if size_hint is not None and size_hint < THREADED_FROM:
        size = _feed_inline(stream, list(hashes.values()))
    else:
        size = _feed_threaded(stream, list(hashes.values()))
    return FileDigests(size=size, **{name: h.hexdigest() for name, h in hashes.items()})


def _feed_inline(stream: Readable, hashes: list[_Hash]) -> int:
    buffer = bytearray(CHUNK_SIZE)
    size = 0
    while length := stream.readinto(buffer):
        size += length
        chunk = memoryview(buffer)[:length]
        for h in hashes:
            h.update(chunk)
    return size


def _feed_threaded(stream: Readable, hashes: list[_Hash]) -> int:
    """Read on this thread into a few reused buffers; hash on one thread per digest.

    Each chunk is shared by all digests (a memoryview, never copied); a buffer is refilled only
    once every digest has released it, counted by one semaphore per digest thread.
    """
    buffers = [bytearray(CHUNK_SIZE) for _ in range(_POOL)]
    queues: list[queue.SimpleQueue[memoryview | None]] = [queue.SimpleQueue() for _ in hashes]
    finished = [threading.Semaphore(0) for _ in hashes]
    workers = [
        threading.Thread(target=_consume, args=job, daemon=True)
        for job in zip(hashes, queues, finished, strict=True)
    ]
    for worker in workers:
        worker.start()
    size = 0
    try:
        for index in itertools.count():
            if index >= _POOL:  # every digest is done with chunk index - _POOL
                for done in finished:
                    done.acquire()
            buffer = buffers[index % _POOL]
            length = stream.readinto(buffer)
            if not length:
                break
            size += length
            chunk = memoryview(buffer)[:length]
            for q in queues:
                q.put(chunk)
    finally:
        for q in queues:
            q.put(None)
        for worker in workers:
            worker.join()
    return size


def _consume(
    h: _Hash, chunks: queue.SimpleQueue[memoryview | None], finished: threading.Semaphore
) -> None:
    while (chunk := chunks.get()) is not None:
        h.update(chunk)
        finished.release()
