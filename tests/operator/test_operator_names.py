"""Names that could steer the operator (issue 11): refused by the rule, the paths and the CRDs."""

from __future__ import annotations

import copy
from typing import Any

import operator_examples as examples
import pytest
from operator_schema import errors

from dask_kubernetes.constants import MAX_CLUSTER_NAME_LEN
from dask_kubernetes.operator import child_manifests as m
from dask_kubernetes.operator import vocabulary as v
from dask_kubernetes.operator.crds import load_crd, openapi_schema
from dask_kubernetes.operator.rest import resource_path

#: What an attacker writes where the operator expects a name: traversal, its percent-encoded
#: forms, a dot, a colon, a slash, a host and port, 300 characters, and a trailing newline
#: (Python's `$` would let that one through).
STEERING = [
    "../../victim/daskworkergroups/victim",
    "..",
    "..%2F..%2Fvictim",
    "%2e%2e",
    "%2E%2E%2Fvictim",
    "a.b",
    "a:b",
    "a/b",
    "127.0.0.1:8787/",
    "evil.example",
    "x" * 300,
    "simple\n",
    "Simple",
    "",
]

#: Every field of our CRDs that names an object, with the longest name it may hold.
NAME_FIELDS = [
    ("daskcluster", ("metadata", "name"), MAX_CLUSTER_NAME_LEN),
    ("daskjob", ("metadata", "name"), MAX_CLUSTER_NAME_LEN),
    ("daskworkergroup", ("metadata", "name"), v.MAX_WORKER_GROUP_NAME_LENGTH),
    ("daskworkergroup", ("spec", "cluster"), MAX_CLUSTER_NAME_LEN),
    ("daskautoscaler", ("spec", "cluster"), MAX_CLUSTER_NAME_LEN),
]


@pytest.mark.parametrize("name", STEERING)
def test_the_rule_refuses_every_steering_name(name: str) -> None:
    assert not v.is_label(name)
    with pytest.raises(v.InvalidName):
        v.check_cluster_name(name)
    with pytest.raises(v.InvalidName):
        v.check_worker_group_name(name)


@pytest.mark.parametrize("name", ["simple", "a", "a-b-1", "0x", "x" * MAX_CLUSTER_NAME_LEN])
def test_valid_cluster_names(name: str) -> None:
    assert v.check_cluster_name(name) == name


@pytest.mark.parametrize("name", ["Upper", "-lead", "trail-", "dots.no", "x" * 54, None, 7])
def test_invalid_cluster_names(name: Any) -> None:
    with pytest.raises(v.InvalidName, match="RFC 1123 label of at most 53"):
        v.check_cluster_name(name)


def test_lengths_leave_room_for_what_the_operator_derives() -> None:
    assert MAX_CLUSTER_NAME_LEN == 53  # 63 minus len("-scheduler")
    longest = "x" * MAX_CLUSTER_NAME_LEN
    assert v.is_label(v.scheduler_name(longest))
    assert v.is_label(v.default_worker_group_name(longest))
    assert v.is_subdomain("a.b-c") and not v.is_subdomain("a..b")
    assert not v.is_subdomain("x" * 254)


@pytest.mark.parametrize("name", [n for n in STEERING if n])  # "": the collection's path
def test_api_paths_refuse_steering_names(name: str) -> None:
    for plural in ("daskworkergroups", "pods", "daskclusters"):
        if v.is_subdomain(name):  # "a.b", "evil.example": valid object names, still quoted
            assert resource_path("ns", plural, name).endswith(f"/namespaces/ns/{plural}/{name}")
            continue
        with pytest.raises(v.InvalidName):
            resource_path("ns", plural, name)
    with pytest.raises(v.InvalidName):
        resource_path(name, "pods")


def test_api_paths_name_only_what_the_operator_addresses() -> None:
    assert resource_path("ns", "daskclusters", "a", "status") == (
        "/apis/kubernetes.dask.org/v1/namespaces/ns/daskclusters/a/status"
    )
    assert resource_path("ns", "pods") == "/api/v1/namespaces/ns/pods"
    # A TLS cluster's Secret is created (never read: the chart grants `create` only).
    assert resource_path("ns", "secrets") == "/api/v1/namespaces/ns/secrets"
    for plural, sub in (("configmaps", ""), ("pods", "exec"), ("pods", "../x"), ("../x", "")):
        with pytest.raises(v.InvalidName):
            resource_path("ns", plural, "a", sub)


def _group(cluster: Any, name: str = "g") -> dict[str, Any]:
    group = copy.deepcopy(examples.WORKER_GROUP)
    group["metadata"]["name"] = name
    group["spec"]["cluster"] = cluster
    return group


def test_check_names_covers_every_reference() -> None:
    for obj in examples.ALL.values():
        assert m.name_problem(obj) is None
    autoscaler = copy.deepcopy(examples.AUTOSCALER)
    autoscaler["spec"]["cluster"] = "../../x"
    assert "spec.cluster" in (m.name_problem(autoscaler) or "")
    assert "spec.cluster" in (m.name_problem(_group("a:b")) or "")
    assert "DaskWorkerGroup name" in (m.name_problem(_group("a", name="a.b")) or "")
    job = copy.deepcopy(examples.JOB)
    job["metadata"]["name"] = "x" * 54
    assert "DaskJob name" in (m.name_problem(job) or "")
    assert m.name_problem({"kind": "Secret", "metadata": {"name": "a"}})


def _field_schema(stem: str, path: tuple[str, ...]) -> dict[str, Any]:
    node = openapi_schema(stem)
    for key in path:
        node = node["properties"][key]
    return node


@pytest.mark.parametrize(("stem", "path", "max_length"), NAME_FIELDS)
def test_crds_carry_the_same_rule(stem: str, path: tuple[str, ...], max_length: int) -> None:
    """The YAML cannot import the rule; this keeps it equal to the vocabulary."""
    node = _field_schema(stem, path)
    assert node["pattern"] == v.DNS1123_LABEL_PATTERN
    assert node["maxLength"] == max_length


@pytest.mark.parametrize(("stem", "path", "max_length"), NAME_FIELDS)
@pytest.mark.parametrize("name", [n for n in STEERING if n != "simple\n"])
def test_crd_schemas_refuse_steering_names(
    stem: str, path: tuple[str, ...], max_length: int, name: str
) -> None:
    """(jsonschema reads `$` as Python does; the stand-in's test covers the newline.)"""
    manifest = copy.deepcopy(examples.ALL[stem])
    parent = manifest
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = name
    assert errors(manifest, openapi_schema(stem)), f"{stem} {'.'.join(path)}={name!r} accepted"


def test_upstream_examples_still_fit() -> None:
    for stem, manifest in examples.ALL.items():
        assert errors(manifest, openapi_schema(stem)) == [], stem
    assert load_crd("daskworkergroup")["spec"]["names"]["kind"] == "DaskWorkerGroup"
