"""The kubelet's (and the network agent's) one URL builder refuses every segment the API server
would not take as a name, instead of escaping it or letting the HTTP client normalise it.

Why: issue #21 — a pod's `secretKeyRef.name: ../../other/secrets/x` was joined into
`/api/v1/namespaces/A/secrets/../../other/secrets/x`, which the HTTP client normalises into a
read of namespace `other`'s secret `x` with the kubelet's credentials.
"""

from __future__ import annotations

import pytest

from dask_kubernetes.local.client.api_client import resource_path
from dask_kubernetes.operator.vocabulary import InvalidName

HOSTILE = ["..", ".", "a/b", "../../other/secrets/x", "%2e%2e", "a%2Fb", "x?watch=1", "x#y", ""]
HOSTILE += ["Upper", "a b", "a\n", "-a", "a" * 254, "a\\b", "a:b"]


def test_paths_of_valid_names() -> None:
    assert resource_path("pods", "p", namespace="ns") == "/api/v1/namespaces/ns/pods/p"
    assert (
        resource_path("pods", "p.q-1", namespace="ns", subresource="status")
        == "/api/v1/namespaces/ns/pods/p.q-1/status"
    )
    assert resource_path("events", namespace="ns") == "/api/v1/namespaces/ns/events"
    assert resource_path("nodes", "local") == "/api/v1/nodes/local"
    assert (
        resource_path(
            "leases", "n", namespace="kube-node-lease", api="/apis/coordination.k8s.io/v1"
        )
        == "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n"
    )


@pytest.mark.parametrize("segment", HOSTILE)
def test_a_hostile_name_is_refused(segment: str) -> None:
    with pytest.raises(InvalidName):
        resource_path("secrets", segment, namespace="ns")


@pytest.mark.parametrize("segment", [*HOSTILE, "a.b"])  # a namespace is a label: no dots either
def test_a_hostile_namespace_is_refused(segment: str) -> None:
    with pytest.raises(InvalidName):
        resource_path("secrets", "x", namespace=segment)


@pytest.mark.parametrize("segment", ["..", "a/b", "Pods", "", "pods?x", "%2e"])
def test_hostile_resources_and_subresources_are_refused(segment: str) -> None:
    with pytest.raises(InvalidName):
        resource_path(segment, "x", namespace="ns")
    with pytest.raises(InvalidName):
        resource_path("pods", "x", namespace="ns", subresource=segment)


def test_a_subresource_needs_a_name_and_the_prefix_is_an_api() -> None:
    with pytest.raises(InvalidName):
        resource_path("pods", namespace="ns", subresource="status")
    with pytest.raises(InvalidName):
        resource_path("pods", "p", api="/api/v1/../../x")
