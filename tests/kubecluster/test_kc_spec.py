"""Our manifest helpers produce exactly what upstream dask-kubernetes 2026.3.0 produces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from spec_cases import CLUSTER_CASES, SCHEDULER_CASES, WORKER_CASES

from dask_kubernetes.operator.kubecluster import (
    make_cluster_spec,
    make_scheduler_spec,
    make_worker_spec,
)
from dask_kubernetes.operator.kubecluster.resource_manifests import (
    env_list,
    make_autoscaler,
    make_worker_group,
    without_nulls,
)

GOLDEN = json.loads((Path(__file__).parent / "upstream_golden.json").read_text())


def normalise(manifest: object) -> object:
    return json.loads(json.dumps(manifest, sort_keys=True))


@pytest.mark.parametrize("index", range(len(CLUSTER_CASES)))
def test_cluster_spec_matches_upstream(index: int) -> None:
    ours = make_cluster_spec(**CLUSTER_CASES[index])
    assert normalise(ours) == GOLDEN["cluster"][index]


@pytest.mark.parametrize("index", range(len(WORKER_CASES)))
def test_worker_spec_matches_upstream(index: int) -> None:
    assert normalise(make_worker_spec(**WORKER_CASES[index])) == GOLDEN["worker"][index]


@pytest.mark.parametrize("index", range(len(SCHEDULER_CASES)))
def test_scheduler_spec_matches_upstream(index: int) -> None:
    assert normalise(make_scheduler_spec(**SCHEDULER_CASES[index])) == GOLDEN["scheduler"][index]


def test_manifest_survives_yaml_round_trip() -> None:
    spec = make_cluster_spec("yaml", env={"A": "1"}, resources={"limits": {"cpu": "1"}})
    assert yaml.safe_load(yaml.safe_dump(spec)) == spec


def test_helpers_do_not_share_or_mutate_inputs() -> None:
    env = {"A": "1"}
    resources = {"limits": {"cpu": "1"}}
    spec = make_cluster_spec("x", env=env, resources=resources)
    spec["spec"]["worker"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "9"
    assert resources == {"limits": {"cpu": "1"}}
    scheduler_resources = spec["spec"]["scheduler"]["spec"]["containers"][0]["resources"]
    assert scheduler_resources["limits"]["cpu"] == "1"


@given(st.dictionaries(st.text(min_size=1), st.text()))
def test_env_dict_becomes_name_value_pairs_in_order(env: dict[str, str]) -> None:
    pairs = env_list(env)
    assert pairs == [{"name": k, "value": v} for k, v in env.items()]


def test_worker_group_and_autoscaler_manifests() -> None:
    group = make_worker_group("c", "gpu", "ns", make_worker_spec(n_workers=2))
    assert group["metadata"] == {"name": "c-gpu", "namespace": "ns"}
    assert group["spec"]["cluster"] == "c"
    assert group["spec"]["worker"]["replicas"] == 2
    scaler = make_autoscaler("c", "ns", 1, 5)
    assert scaler["kind"] == "DaskAutoscaler"
    assert scaler["spec"] == {"cluster": "c", "minimum": 1, "maximum": 5}


def test_nulls_are_dropped_before_sending() -> None:
    spec = make_cluster_spec("nulls", idle_timeout=None)
    cleaned = without_nulls(spec)
    assert "idleTimeout" not in cleaned["spec"]
    worker = cleaned["spec"]["worker"]["spec"]["containers"][0]
    assert "env" not in worker and "resources" not in worker
    assert "replicas" not in cleaned["spec"]["worker"]
    assert spec["spec"]["idleTimeout"] is None  # the input is left alone
