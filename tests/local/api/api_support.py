"""Helpers for the API server tests that speak HTTP (urllib) directly instead of via a client."""

from __future__ import annotations

import http.client
import ssl
import urllib.request
from typing import Any

from dask_kubernetes.local.apiserver import APIServer


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
