"""The stand-in's agents' informer: `common.informer`'s list-then-watch cache over our
`ApiClient`, retrying on its transport failures.

A dropped connection resumes the watch from the last version seen (the API server keeps a
history); only an API error (`410 Gone`, a refused watch) needs a fresh list.
"""

from __future__ import annotations

import asyncio

import aiohttp

from dask_kubernetes.common.informer import Handler, object_key
from dask_kubernetes.common.informer import Informer as _ListWatchCache
from dask_kubernetes.local.client.api_client import ApiError

__all__ = ["Handler", "Informer", "object_key"]


class Informer(_ListWatchCache):
    """An informer over `ApiClient`."""

    retry_on = (ApiError, aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError)

    def relist_after(self, exc: BaseException) -> bool:
        return isinstance(exc, ApiError)
