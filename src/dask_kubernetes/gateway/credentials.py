"""Malformed credentials get 401, not 500: a guard in front of dask-gateway's authentication.

dask-gateway-server 2026.3.0 splits and decodes the Authorization header without checking it:
`Authorization: token` (no value) or a Basic value that is not base64 of `user:password`
raise inside its handlers and answer 500. An attacker learns nothing from that, but a 500
is an error budget and an alert, and "wrong credentials get 401" should hold for every shape
of wrong. This middleware answers 401 to such headers before any handler runs.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def malformed(header: str) -> bool:
    """Whether an Authorization header is unusable by any of dask-gateway's authenticators."""
    scheme, _, value = header.partition(" ")
    if not scheme or not value.strip():
        return True
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return True
        return ":" not in decoded
    return False


@web.middleware
async def reject_malformed(request: web.Request, handler: Handler) -> web.StreamResponse:
    header = request.headers.get("Authorization")
    if header is not None and malformed(header):
        return web.json_response(
            {"error": "malformed Authorization header"},
            status=401,
            headers={"WWW-Authenticate": "Basic"},
        )
    return await handler(request)
