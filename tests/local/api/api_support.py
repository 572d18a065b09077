"""Helpers for the API server tests that speak HTTP (urllib) directly instead of via a client."""

from __future__ import annotations

import urllib.request
from typing import Any

from dask_kubernetes.local.apiserver import APIServer


def authorized(server: APIServer, url: str, **options: Any) -> urllib.request.Request:
    """A urllib request carrying the server's admin token (every API request needs one)."""
    request = urllib.request.Request(url, **options)
    request.add_header("Authorization", f"Bearer {server.admin_token}")
    return request
