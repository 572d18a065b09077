"""The CRDs: structure, subresources, upstream manifests accepted, chart copies in sync."""

from __future__ import annotations

import copy
from typing import Any

import operator_examples as examples
import pytest
from operator_schema import errors

from dask_kubernetes.operator.crds import CRD_FILES, load_crd, load_crds, openapi_schema
from dask_kubernetes.operator.crds._chart_sync import find_drift
from dask_kubernetes.operator.vocabulary import GROUP

CHART = "charts/dask-kubernetes-operator"


def _walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for key, child in (node.get("properties") or {}).items():
        found += _walk(child, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        found += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += _walk(node["additionalProperties"], f"{path}{{}}")
    return found


@pytest.mark.parametrize("stem", CRD_FILES)
def test_schema_is_structural(stem: str) -> None:
    """Every node has a type, and there are no unresolved $refs (the API server rejects both)."""
    for path, node in _walk(openapi_schema(stem)):
        assert "type" in node, f"{stem}{path} has no type"
        assert "$ref" not in node, f"{stem}{path} has a $ref"


@pytest.mark.parametrize("stem", CRD_FILES)
def test_crd_basics(stem: str) -> None:
    crd = load_crd(stem)
    assert crd["spec"]["group"] == GROUP
    assert crd["metadata"]["name"] == f"{crd['spec']['names']['plural']}.{GROUP}"
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1" and version["served"] and version["storage"]
    assert version["subresources"]["status"] == {}
    columns = {c["name"] for c in version["additionalPrinterColumns"]}
    assert "Age" in columns
    assert crd["spec"]["names"]["shortNames"]


def test_printer_columns_show_workers_and_phase() -> None:
    columns = {
        c["name"]: c["jsonPath"]
        for c in load_crd("daskcluster")["spec"]["versions"][0]["additionalPrinterColumns"]
    }
    assert columns["Workers"] == ".spec.worker.replicas"
    assert columns["Status"] == ".status.phase"


def test_worker_group_scale_subresource() -> None:
    scale = load_crd("daskworkergroup")["spec"]["versions"][0]["subresources"]["scale"]
    assert scale == {
        "specReplicasPath": ".spec.worker.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }


def test_short_names_match_upstream() -> None:
    names = {
        crd["spec"]["names"]["kind"]: crd["spec"]["names"]["shortNames"] for crd in load_crds()
    }
    assert {"daskcluster", "dsk"} <= set(names["DaskCluster"])
    assert "daskworkers" in names["DaskWorkerGroup"]
    assert "djb" in names["DaskJob"]


@pytest.mark.parametrize("stem", CRD_FILES)
def test_upstream_example_is_accepted(stem: str) -> None:
    assert errors(examples.ALL[stem], openapi_schema(stem)) == []


@pytest.mark.parametrize(
    ("stem", "mutate", "expected"),
    [
        ("daskcluster", lambda o: o["spec"].pop("scheduler"), "scheduler"),
        ("daskcluster", lambda o: o["spec"]["worker"].update(replicas="two"), "two"),
        ("daskcluster", lambda o: o["spec"]["worker"].update(replicas=-1), "-1"),
        ("daskcluster", lambda o: o["spec"]["worker"]["spec"].pop("containers"), "containers"),
        ("daskworkergroup", lambda o: o["spec"].pop("cluster"), "cluster"),
        ("daskjob", lambda o: o["spec"].pop("job"), "job"),
        ("daskautoscaler", lambda o: o["spec"].update(minimum="1"), "'1'"),
    ],
)
def test_invalid_manifests_are_refused(stem: str, mutate: Any, expected: str) -> None:
    manifest = copy.deepcopy(examples.ALL[stem])
    mutate(manifest)
    problems = errors(manifest, openapi_schema(stem))
    assert any(expected in problem for problem in problems), problems


def test_chart_copies_are_in_sync(repo_root: Any) -> None:
    assert find_drift(repo_root / CHART) == []
