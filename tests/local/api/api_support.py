"""Helpers for the API server tests that speak HTTP (urllib) directly instead of via a client."""

from __future__ import annotations

import http.client
import ssl
import time
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from dask_kubernetes.local.apiserver import APIServer

T = TypeVar("T")


def open_api(
    server: APIServer,
    target: str | urllib.request.Request,
    *,
    timeout: float = 10.0,
    **options: Any,
) -> http.client.HTTPResponse:
    """`urlopen` with the server's admin token (every API request needs one), trusting its CA."""
    request = target if isinstance(target, urllib.request.Request) else None
    if request is None:
        request = urllib.request.Request(str(target), **options)
    request.add_header("Authorization", f"Bearer {server.admin_token}")
    ca = server.ca_pem
    context = ssl.create_default_context(cadata=ca.decode()) if ca is not None else None
    response: http.client.HTTPResponse = urllib.request.urlopen(
        request, timeout=timeout, context=context
    )
    return response


def eventually(check: Callable[[], T | None], what: str = "condition", timeout: float = 30.0) -> T:
    """Poll `check` until it returns something truthy; a real server does much asynchronously
    (CRD establishing and removal, namespace finalization), so tests await, never assume."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout}s")
        time.sleep(0.05)
