"""Discovery lists the short names a real server does, so `kubectl get pdb` and friends work."""

from __future__ import annotations

import json

import pytest
from control_planes import Endpoint


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
    endpoint: Endpoint, group_version: str, plural: str, short_name: str
) -> None:
    with endpoint.open(f"{endpoint.url}/{group_version}", timeout=10) as response:
        resources = {r["name"]: r for r in json.load(response)["resources"]}
    assert short_name in resources[plural].get("shortNames", [])
