"""The Kubernetes API client of the stand-in's agents (kubelet, network agent, operator installer,
compositions), each with its own credentials: a bearer token on the emulator, a client certificate
(e.g. `system:node:NAME`) on the real plane; over HTTPS when the API server serves it (verified
against the cluster's CA).

The token goes on each API request, not on the session: the session also runs the pods' HTTP probes,
which must not see it.

Transient failures (5xx, 429, connection errors — also the API server's injected faults) are retried
with back-off, so callers see either a result or a definite answer such as 404/409.

Object paths are built by `resource_path` only, which checks every segment as the API server checks
names (a namespace is an RFC 1123 label, an object name a subdomain) and refuses the rest: names
come from pod specs (`secretKeyRef`, `serviceAccountName`), and `../../other/secrets/x` joined into
a URL would be normalised by the HTTP client into another namespace's secret.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from dask_kubernetes.operator.vocabulary import InvalidName, check_label, check_subdomain

USER_AGENT = "dask-kubernetes-local-kubelet"
MERGE_PATCH = "application/merge-patch+json"
_RETRY_STATUSES = {429, 500, 502, 503, 504}
_CORE_API = "/api/v1"
_RESOURCE_WORD = re.compile(r"[a-z]+")
_API_PREFIX = re.compile(r"/api/v1|/apis/[a-z0-9.-]+/v[0-9a-z]+")


def resource_path(
    resource: str,
    name: str | None = None,
    *,
    namespace: str | None = None,
    subresource: str | None = None,
    api: str = _CORE_API,
) -> str:
    """`API[/namespaces/NS]/RESOURCE[/NAME[/SUB]]`, every segment checked, none escaped: a value
    the API server would not accept as a name (`..`, `/`, `%2e`, `?`, `#`, empty, uppercase)
    raises `InvalidName` instead of becoming part of a URL. `None` leaves a segment out."""
    if not _API_PREFIX.fullmatch(api):
        raise InvalidName(f"API prefix {api!r} is not /api/v1 or /apis/GROUP/VERSION")
    for word, what in ((resource, "resource"), (subresource, "subresource")):
        if word is not None and not _RESOURCE_WORD.fullmatch(word):
            raise InvalidName(f"{what} {word!r} is not a lowercase resource name")
    if subresource is not None and name is None:
        raise InvalidName(f"subresource {subresource!r} needs an object name")
    parts = [api]
    if namespace is not None:
        parts += ["namespaces", check_label(namespace, "namespace")]
    parts.append(resource)
    if name is not None:
        parts.append(check_subdomain(name, f"{resource} name"))
    if subresource is not None:
        parts.append(subresource)
    return "/".join(parts)


class ApiError(Exception):
    """A definite error answer from the API server."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{status}: {message}")
        self.status = status
        self.body = body


class ApiClient:
    """An aiohttp session bound to one API server URL."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        ca_pem: bytes | None = None,
        client_cert: tuple[Path, Path] | None = None,
        attempts: int = 8,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self._ssl: ssl.SSLContext | bool = True
        if ca_pem is not None:
            context = ssl.create_default_context(cadata=ca_pem.decode())
            if client_cert is not None:
                context.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
            self._ssl = context
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"}
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        retry_conflict: bool = False,
    ) -> Any:
        """One API call with retries of transient failures; returns the decoded body."""
        delay = 0.05
        data = None if body is None else json.dumps(body)
        headers = dict(self._auth)
        if body is not None:
            headers["Content-Type"] = content_type
        retry_on = _RETRY_STATUSES | ({409} if retry_conflict else set())
        for attempt in range(self.attempts):
            last = attempt == self.attempts - 1
            try:
                async with self.session.request(
                    method,
                    self.base_url + path,
                    data=data,
                    params=params,
                    headers=headers,
                    ssl=self._ssl,
                ) as response:
                    text = await response.text()
                    decoded = json.loads(text) if text else None
                    if response.status < 400:
                        return decoded
                    if response.status not in retry_on or last:
                        raise ApiError(response.status, decoded)
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError, json.JSONDecodeError):
                if last:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")

    async def get(self, path: str) -> Any:
        """The object, or None if it does not exist."""
        try:
            return await self.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def create(
        self, collection: str, body: Mapping[str, Any], *, exist_ok: bool = False
    ) -> Any:
        """POST `body` into `collection`; with `exist_ok`, one already there (409) is kept as it is
        (e.g. a Node an earlier run registered, with its cordon) and None is returned."""
        try:
            return await self.request("POST", collection, body=body)
        except ApiError as exc:
            if exc.status == 409 and exist_ok:
                return None
            raise

    async def patch_or_create(
        self, path: str, patch: Mapping[str, Any], collection: str, body: Mapping[str, Any]
    ) -> Any:
        """Merge-patch the object at `path` (retrying conflicts); when it does not exist yet,
        create `body` in `collection` instead: for objects one writer keeps current (a Lease, an
        Endpoints) and which may not have been made yet."""
        try:
            return await self.request(
                "PATCH", path, body=patch, content_type=MERGE_PATCH, retry_conflict=True
            )
        except ApiError as exc:
            if exc.status != 404:
                raise
        return await self.request("POST", collection, body=body)

    async def list_objects(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        """One list of a collection (what an informer starts from)."""
        return dict(await self.request("GET", path, params=dict(params) or None))

    async def watch(
        self, path: str, resource_version: str, params: Mapping[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Watch events from `resource_version` until the server ends the stream."""
        params = {
            **(params or {}),
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
        }
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self.session.get(
            self.base_url + path, params=params, timeout=timeout, headers=self._auth, ssl=self._ssl
        ) as response:
            if response.status >= 400:
                raise ApiError(response.status, await response.text())
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
