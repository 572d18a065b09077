"""Fetch a release's files and their PEP 740 provenance from a package index, for `verify`.

Why: a security team wants to check what the index actually serves, not a file someone handed
them. Given `NAME==VERSION` (or the URL of one distribution file), this reads the index's PEP 691
JSON page, downloads each file of that version with a size limit, checks the sha256 the index
lists, and fetches the file's provenance (the page's `provenance` URL, PEP 740, else PyPI's
integrity API). Everything lands in a private temporary directory; `verify` then judges the files
as usual, and only those that pass are moved (renamed) into `--download-dir`.

Names, versions and file names from the user and from the index are validated before they become
URLs or paths, and plain http is refused unless the host is the loopback interface. Each request
(page, file, provenance) has one deadline for the whole transfer, connection and headers
included: a server that trickles bytes is cut off when it passes, not after each quiet read.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import re
import shutil
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from dask_kubernetes_release.core.dists import parse_distribution_name
from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.files import MAX_EVIDENCE_BYTES

DEFAULT_INDEX_URL = "https://pypi.org/simple/"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
MAX_PAGE_BYTES = 16 * 1024 * 1024
MAX_DIST_BYTES = 1024 * 1024 * 1024
_CHUNK = 1024 * 1024
TRANSFER_DEADLINE_SECONDS = 60.0  # per request, from connecting to the last byte
# PEP 508 / core metadata: a project name.
_PROJECT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_SPEC = re.compile(r"(?P<name>[^=\s]+)==(?P<version>[^=\s]+)")


@dataclass(frozen=True)
class Wanted:
    """What the user asked for: every file of one version, or one file (by its URL)."""

    project: str  # canonical (PEP 503)
    version: Version
    url: str | None = None  # a distribution file's URL
    filename: str | None = None


@dataclass(frozen=True)
class Fetched:
    """One file of the release, downloaded into the work directory (or why it could not be)."""

    filename: str
    path: Path
    problem: str | None = None  # a FAIL reason found before verification


def _project(name: str) -> str:
    if not _PROJECT.fullmatch(name):
        raise UsageError(f"{name!r} is not a valid project name")
    return canonicalize_name(name)


def _version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise UsageError(f"{text!r} is not a valid version") from None


def is_remote(target: str) -> bool:
    """A target that names something on an index rather than a local file."""
    return "://" in target or _SPEC.fullmatch(target) is not None


def parse_target(target: str) -> Wanted:
    """`NAME==VERSION` or an http(s) URL ending in a distribution file name."""
    spec = _SPEC.fullmatch(target)
    if spec is not None:
        return Wanted(_project(spec["name"]), _version(spec["version"]))
    check_url(target, "the file URL")
    filename = _safe_filename(unquote(PurePosixPath(urlsplit(target).path).name))
    parsed = parse_distribution_name(filename)
    return Wanted(parsed.project, parsed.version, url=target, filename=filename)


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str) -> None:
    """Only https, or plain http to this machine's loopback interface."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and _loopback(parts.hostname):
        return
    raise UsageError(
        f"{what} {url!r} is refused: only https:// (or http:// on the loopback interface)"
    )


def _safe_filename(name: str) -> str:
    """A bare file name: no directory part, no dot-file, no control characters."""
    if (
        not name
        or name != PurePosixPath(name).name
        or name.startswith(".")
        or "\\" in name
        or not name.isprintable()
        or len(name) > 255
    ):
        raise UsageError(f"refusing unsafe file name {name!r}")
    return name


class _TooLarge(Exception):
    """A download went past its size limit (it is abandoned, never kept)."""


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect must obey the same rule as the URL it replaces."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> Any:  # fmt: skip
        check_url(newurl, "a redirect to")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class TransferTooSlow(Exception):
    """A request outlived its deadline; whatever it received is abandoned."""


class _Deadline:
    """One deadline for a whole transfer: when it passes, every socket it watches is shut down,
    which ends any read in progress (a per-read timeout never ends a trickle)."""

    def __init__(self, what: str, seconds: float) -> None:
        self.what = what
        self.seconds = seconds
        self.expired = False
        self._ends = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return max(0.001, self._ends - time.monotonic())

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def error(self) -> TransferTooSlow:
        return TransferTooSlow(f"{self.what} took longer than {self.seconds:g} s (abandoned)")

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


class _WatchedHTTP(http.client.HTTPConnection):
    deadline: _Deadline

    def connect(self) -> None:
        super().connect()
        self.deadline.watch(self.sock)


class _WatchedHTTPS(http.client.HTTPSConnection):
    deadline: _Deadline

    def connect(self) -> None:
        super().connect()
        self.deadline.watch(self.sock)


def _watched(kind: type[http.client.HTTPConnection], deadline: _Deadline) -> Any:
    """A connection factory for urllib whose sockets `deadline` shuts down when it passes."""
    watched = _WatchedHTTPS if issubclass(kind, http.client.HTTPSConnection) else _WatchedHTTP

    def connection(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        made = watched(host, **kwargs)
        made.deadline = deadline
        return made

    return connection


class _DeadlineHTTP(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
        return super().do_open(_watched(http_class, self.deadline), req, **kwargs)


class _DeadlineHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
        return super().do_open(_watched(http_class, self.deadline), req, **kwargs)


def _open(url: str, accept: str, deadline: _Deadline) -> Any:
    check_url(url, "the URL")
    handlers: list[urllib.request.BaseHandler] = [
        _CheckedRedirects(),
        _DeadlineHTTP(deadline),
        _DeadlineHTTPS(deadline),
    ]
    if _loopback(urlsplit(url).hostname):
        handlers.append(urllib.request.ProxyHandler({}))  # never send loopback through a proxy
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(  # noqa: S310 - check_url allowed only http(s) above
        url, headers={"Accept": accept, "User-Agent": "dask-kubernetes-release verify"}
    )
    return opener.open(request, timeout=deadline.remaining())


@contextmanager
def _deadline(what: str) -> Iterator[_Deadline]:
    """Run one transfer under TRANSFER_DEADLINE_SECONDS; past it, TransferTooSlow, whatever
    error the cut-off connection raised (or the short read it ended with)."""
    with _Deadline(what, TRANSFER_DEADLINE_SECONDS) as deadline:
        try:
            yield deadline
        except Exception:
            if deadline.expired:
                raise deadline.error() from None
            raise
        if deadline.expired:
            raise deadline.error()


def _read(url: str, accept: str, limit: int, what: str) -> tuple[bytes, str]:
    """The body (at most `limit` bytes) and the URL it finally came from (after redirects)."""
    with _deadline(what) as deadline, _open(url, accept, deadline) as response:
        data: bytes = response.read(limit + 1)
        final = str(response.geturl())
    if len(data) > limit:
        raise UsageError(f"{what} at {url} is larger than {limit} bytes")
    return data, final


def _download(url: str, target: Path, limit: int) -> str:
    """Stream `url` into `target` (at most `limit` bytes); returns the sha256 of the bytes.
    On any failure the partial `target` is removed: it is never left behind."""
    digest = hashlib.sha256()
    size = 0
    with _deadline("the download") as deadline, _open(url, "*/*", deadline) as response:
        out = target.open("xb")
        try:
            with out:
                while chunk := response.read(_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise _TooLarge(f"the file is larger than the limit of {limit} bytes")
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        if deadline.expired:  # the cut-off connection may read as a short, complete body
            target.unlink(missing_ok=True)
    return digest.hexdigest()


def _index_page(index_url: str, project: str) -> tuple[str, dict[str, Any]]:
    page_url = urljoin(index_url.rstrip("/") + "/", quote(project) + "/")
    try:
        raw, page_url = _read(page_url, SIMPLE_JSON, MAX_PAGE_BYTES, "the index page")
    except urllib.error.HTTPError as exc:
        raise UsageError(f"{page_url}: the index answered HTTP {exc.code}") from None
    except TransferTooSlow as exc:
        raise UsageError(f"{page_url}: {exc}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise UsageError(f"{page_url}: cannot reach the index ({exc})") from None
    try:
        page = json.loads(raw)
    except (ValueError, RecursionError):
        raise UsageError(f"{page_url}: not a PEP 691 JSON page") from None
    files = page.get("files") if isinstance(page, dict) else None
    if not isinstance(files, list):
        raise UsageError(f"{page_url}: not a PEP 691 JSON page (no 'files' list)")
    return page_url, page


def integrity_url(index_url: str, project: str, version: Version, filename: str) -> str:
    """PyPI's integrity API: `/integrity/<project>/<version>/<file>/provenance` beside /simple/."""
    base = index_url.rstrip("/")
    base = base.removesuffix("/simple") if base.endswith("/simple") else base
    parts = (quote(project), quote(str(version)), quote(filename))
    return f"{base}/integrity/{'/'.join(parts)}/provenance"


def _entries(page: dict[str, Any], wanted: Wanted, page_url: str) -> list[dict[str, Any]]:
    """The page's files of the wanted version (or the one wanted file), names validated."""
    chosen = []
    for entry in page["files"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            raise UsageError(f"{page_url}: a file entry has no filename")
        name = _safe_filename(entry["filename"])
        try:
            parsed = parse_distribution_name(name)
        except UsageError:
            continue  # eggs, zips and other kinds verify never judges
        if parsed.project != wanted.project or parsed.version != wanted.version:
            continue
        if wanted.filename is not None and name != wanted.filename:
            continue
        if not isinstance(entry.get("url"), str):
            raise UsageError(f"{page_url}: {name} has no URL")
        chosen.append(entry)
    if not chosen:
        what = wanted.filename or f"{wanted.project}=={wanted.version}"
        raise UsageError(f"{page_url}: the index lists no file for {what}")
    return chosen


def _fetch_one(
    entry: dict[str, Any], wanted: Wanted, page_url: str, index_url: str, work: Path
) -> Fetched:
    name = entry["filename"]
    path = work / name
    url = wanted.url or urljoin(page_url, entry["url"])
    hashes = entry.get("hashes")
    listed = hashes.get("sha256") if isinstance(hashes, dict) else None
    if not isinstance(listed, str):
        return Fetched(name, path, "the index lists no sha256 for this file")
    try:
        actual = _download(url, path, MAX_DIST_BYTES)
    except urllib.error.HTTPError as exc:
        return Fetched(name, path, f"the file could not be downloaded (HTTP {exc.code})")
    except urllib.error.URLError as exc:
        return Fetched(name, path, f"the file could not be downloaded ({exc.reason})")
    except (_TooLarge, TransferTooSlow) as exc:
        return Fetched(name, path, str(exc))
    except (OSError, http.client.HTTPException) as exc:
        return Fetched(name, path, f"the file could not be downloaded ({exc})")
    if actual != listed.lower():
        return Fetched(
            name, path, "the downloaded file's sha256 differs from the one the index lists"
        )
    provenance = entry.get("provenance", ...)
    if provenance is None:
        return Fetched(name, path, "the index says this file has no provenance (PEP 740)")
    if isinstance(provenance, str):
        provenance_url = urljoin(page_url, provenance)
    else:
        provenance_url = integrity_url(index_url, wanted.project, wanted.version, name)
    try:
        raw, _ = _read(provenance_url, "application/json", MAX_EVIDENCE_BYTES, "the provenance")
    except urllib.error.HTTPError as exc:
        return Fetched(
            name, path, f"the index serves no provenance for this file (HTTP {exc.code})"
        )
    except urllib.error.URLError as exc:
        return Fetched(name, path, f"the provenance could not be fetched ({exc.reason})")
    except (TransferTooSlow, OSError, http.client.HTTPException) as exc:
        return Fetched(name, path, f"the provenance could not be fetched ({exc})")
    Path(f"{path}.provenance").write_bytes(raw)
    return Fetched(name, path)


@contextmanager
def fetched(
    targets: list[str], index_url: str, work_parent: Path | None
) -> Iterator[list[Fetched]]:
    """Download every wanted file and its provenance into a fresh private directory, removed
    on exit (files to keep must be moved out first, see `keep`)."""
    check_url(index_url, "the index URL")
    wanted = [parse_target(target) for target in targets]
    if work_parent is not None:
        work_parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".verify-", dir=work_parent))
    try:
        found: list[Fetched] = []
        seen: set[str] = set()
        for item in wanted:
            page_url, page = _index_page(index_url, item.project)
            for entry in _entries(page, item, page_url):
                if entry["filename"] not in seen:
                    seen.add(entry["filename"])
                    found.append(_fetch_one(entry, item, page_url, index_url, work))
        yield found
    finally:
        shutil.rmtree(work, ignore_errors=True)


def keep(passed: list[Path], download_dir: Path) -> list[Path]:
    """Move the files that passed (and their provenance) into `download_dir`, by rename."""
    kept = []
    for path in passed:
        for source in (path, Path(f"{path}.provenance")):
            if source.exists():
                target = download_dir / source.name
                source.replace(target)
                kept.append(target)
    return kept
