"""Discovery lists the short names a real server does, so `kubectl get pdb` and friends work."""

from __future__ import annotations

import json

import pytest
from api_support import open_api

from dask_kubernetes.local.apiserver import APIServer

pytestmark = pytest.mark.usefixtures("standin")


@pytest.mark.parametrize(
    ("group_version", "plural", "short_name"),
    [
        ("apis/policy/v1", "poddisruptionbudgets", "pdb"),
        ("apis/apps/v1", "deployments", "deploy"),
        ("apis/apps/v1", "replicasets", "rs"),
        ("api/v1", "services", "svc"),
    ],
)
def test_short_names_in_discovery(
    server: APIServer, group_version: str, plural: str, short_name: str
) -> None:
    with open_api(server, f"{server.url}/{group_version}", timeout=10) as response:
        resources = {r["name"]: r for r in json.load(response)["resources"]}
    assert short_name in resources[plural].get("shortNames", [])
