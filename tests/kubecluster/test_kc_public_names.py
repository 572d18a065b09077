"""Every public name upstream dask-kubernetes 2026.3.0 exports imports from ours, meaning the same.

The list is `upstream_names.json`, generated from upstream's wheel by `make_upstream_names.py`.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

UPSTREAM_NAMES: dict[str, list[str]] = json.loads(
    (Path(__file__).parent / "upstream_names.json").read_text()
)
CASES = [(module, name) for module, names in UPSTREAM_NAMES.items() for name in names]


def test_the_list_covers_what_users_reported_missing() -> None:
    assert "MAX_CLUSTER_NAME_LEN" in UPSTREAM_NAMES["dask_kubernetes.constants"]
    assert "discover" in UPSTREAM_NAMES["dask_kubernetes.operator"]


@pytest.mark.parametrize(("module", "name"), CASES, ids=[f"{m}.{n}" for m, n in CASES])
def test_upstream_name_imports(module: str, name: str) -> None:
    # `from module import name` in a fresh interpreter: no import done by another test helps.
    code = f"from {module} import {name}; print(repr({name})[:60])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr.strip().splitlines()[-1:]


def test_constants_have_upstreams_values() -> None:
    from dask_kubernetes import constants

    assert constants.MAX_CLUSTER_NAME_LEN == 53
    assert constants.KUBERNETES_MAX_RESOURCE_NAME_LENGTH == 63
    assert constants.SCHEDULER_NAME_TEMPLATE.format(cluster_name="a") == "a-scheduler"
    assert constants.VALID_CLUSTER_NAME.match("x" * 53)
    assert not constants.VALID_CLUSTER_NAME.match("x" * 54)
    assert not constants.VALID_CLUSTER_NAME.match("Bad_Name")


def test_validation_uses_the_constants() -> None:
    """One home: KubeCluster's own check rejects exactly what the public constant rejects."""
    from dask_kubernetes.constants import MAX_CLUSTER_NAME_LEN
    from dask_kubernetes.exceptions import ValidationError
    from dask_kubernetes.operator.kubecluster.validation import validate_cluster_name

    validate_cluster_name("x" * MAX_CLUSTER_NAME_LEN)
    with pytest.raises(ValidationError):
        validate_cluster_name("x" * (MAX_CLUSTER_NAME_LEN + 1))


def test_scheduler_startup_error_is_caught_as_crash_loop() -> None:
    from dask_kubernetes.exceptions import CrashLoopBackOffError, SchedulerStartupError

    assert issubclass(SchedulerStartupError, CrashLoopBackOffError)


def test_import_registers_upstreams_config_defaults() -> None:
    code = (
        "import dask, dask_kubernetes; "
        "print(dask.config.get('kubernetes.image'), dask.config.get('kubernetes.name'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["ghcr.io/dask/dask:latest", "dask-{user}-{uuid}"]


def test_version_tuple_matches_version() -> None:
    import dask_kubernetes

    first = dask_kubernetes.__version__.split(".")[0]
    assert dask_kubernetes.__version_tuple__[0] == int(first)


def test_discover_is_the_dask_ctl_entry_point() -> None:
    from importlib.metadata import entry_points

    from dask_kubernetes.operator import discover

    [entry] = [e for e in entry_points(group="dask_cluster_discovery") if e.name == "kubecluster"]
    assert entry.load() is discover
    assert importlib.import_module("dask_kubernetes.operator").discover is discover
