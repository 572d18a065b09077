"""`/clusters/<name>/...`: a cluster's dashboard for its owner, and nothing else of its scheduler.

dask-gateway's proxy serves each dashboard on a path route with no authentication: anyone who
learns a cluster's name opens its dashboard, and, since the dashboard port also serves the
scheduler's HTTP API, reaches that too. Here no per-cluster path route is given to the proxy;
its catch-all route sends `/clusters/...` to the gateway, which authenticates the request with
the gateway's authenticator, checks that the user owns the cluster, refuses the scheduler's
API paths outright (`/api/...`: retire_workers and friends), strips any operator token header,
and only then forwards GET requests (and the dashboard's WebSockets) to the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from dask_kubernetes.operator.vocabulary import SCHEDULER_API_TOKEN_HEADER

ROUTE = "/clusters/{cluster_name}/{tail:.*}"
_HOP_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
    "cookie",
    "content-length",
    "content-encoding",
}

Lookup = Callable[[str], Awaitable[Any]]


def _forwarded_headers(request: web.Request) -> dict[str, str]:
    return {
        key: value
        for key, value in request.headers.items()
        if key.lower() not in _HOP_HEADERS and key.lower() != SCHEDULER_API_TOKEN_HEADER.lower()
    }


def refused(tail: str) -> bool:
    """Whether `tail` (the path after `/clusters/<name>/`) may not be forwarded.

    The scheduler's APIs (`api...` as the first segment), and any path a server could
    re-interpret into one: dot segments (`status/../api/...`) and percent-escapes.
    """
    segments = [part for part in tail.split("/") if part]
    if any(part in (".", "..") or "%" in part or "\\" in part for part in segments):
        return True
    return bool(segments) and segments[0].lower().startswith("api")


async def _pump_ws(source: Any, sink: Any) -> None:
    async for message in source:
        if message.type == aiohttp.WSMsgType.TEXT:
            await sink.send_str(message.data)
        elif message.type == aiohttp.WSMsgType.BINARY:
            await sink.send_bytes(message.data)
        else:
            break


async def _proxy_ws(
    request: web.Request, session: aiohttp.ClientSession, url: str
) -> web.WebSocketResponse:
    server = web.WebSocketResponse()
    await server.prepare(request)
    async with session.ws_connect(url, headers=_forwarded_headers(request)) as upstream:
        tasks = [
            asyncio.ensure_future(_pump_ws(server, upstream)),
            asyncio.ensure_future(_pump_ws(upstream, server)),
        ]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    await server.close()
    return server


def make_handler(
    lookup: Lookup, session: Callable[[], aiohttp.ClientSession]
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The route's handler; `lookup(name)` gives the cluster record or None."""

    async def serve(request: web.Request) -> web.StreamResponse:
        user = request["user"]
        name = request.match_info["cluster_name"]
        tail = request.match_info["tail"]
        cluster = await lookup(name)
        if cluster is None or not user.has_permissions(cluster):
            # The same answer whether the cluster is someone else's or absent: no probing.
            raise web.HTTPNotFound(reason=f"Cluster {name} not found")
        if refused(tail):
            raise web.HTTPForbidden(reason="the scheduler's API is not served by the gateway")
        if not cluster.dashboard_address:
            raise web.HTTPConflict(reason=f"Cluster {name} is not running")
        url = f"{cluster.dashboard_address}/{tail}"
        if request.query_string:
            url += f"?{request.query_string}"
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await _proxy_ws(request, session(), url)
        async with session().get(
            url, headers=_forwarded_headers(request), allow_redirects=False
        ) as upstream:
            body = await upstream.read()
            response = web.Response(status=upstream.status, body=body)
            for key in ("Content-Type", "Location", "Cache-Control"):
                if key in upstream.headers:
                    value = upstream.headers[key]
                    if key == "Location" and value.startswith("/"):
                        value = f"/clusters/{name}{value}"
                    response.headers[key] = value
            return response

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET"])
        auth = request.app["authenticator"]
        try:
            response: web.StreamResponse = await auth.authenticate_and_handle(request, serve)
        except web.HTTPException as exc:
            return web.json_response(
                {"error": exc.reason}, status=exc.status, headers=_challenge(exc)
            )
        return response

    return handler


def _challenge(exc: web.HTTPException) -> dict[str, str]:
    value = exc.headers.get("WWW-Authenticate")
    return {"WWW-Authenticate": value} if value else {}
