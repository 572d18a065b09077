"""`services/NAME[:PORT]/proxy/PATH` and `pods/NAME[:PORT]/proxy/PATH`: plain HTTP relayed to a
ready pod, as `kubectl proxy` users and dashboards expect."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from dask_kubernetes.local.apimachinery.errors import APIError

_HOP_HEADERS = {
    "host",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "authorization",
}


async def relay(request: web.Request, address: str, port: int, path: str) -> web.StreamResponse:
    url = f"http://{address}:{port}/{path}"
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
    body = await request.read()
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session,
            session.request(
                request.method,
                url,
                params=request.query,
                headers=headers,
                data=body or None,
                allow_redirects=False,
            ) as upstream,
        ):
            response = web.StreamResponse(status=upstream.status)
            for key, value in upstream.headers.items():
                if key.lower() not in _HOP_HEADERS:
                    response.headers[key] = value
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(65536):
                await response.write(chunk)
            await response.write_eof()
            return response
    except aiohttp.ClientConnectionError as error:
        raise APIError(503, f"error trying to reach {address}:{port}: {error}") from error
