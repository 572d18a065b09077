"""Bad arguments fail before anything reaches Kubernetes, as errors upstream code catches."""

from __future__ import annotations

from pathlib import Path

import dask.config
import pytest
import yaml

from dask_kubernetes.constants import MAX_CLUSTER_NAME_LEN
from dask_kubernetes.operator.kubecluster import KubeCluster, make_cluster_spec
from dask_kubernetes.operator.kubecluster.errors import (
    KubeClusterError,
    KubernetesUnreachableError,
    ValidationError,
)
from dask_kubernetes.operator.kubecluster.validation import (
    CreateMode,
    expand_name,
    parse_create_mode,
    validate_cluster_name,
    validate_resources,
    validate_worker_count,
)


@pytest.mark.parametrize("name", ["a", "analysis", "a-1", "x" * MAX_CLUSTER_NAME_LEN])
def test_valid_names(name: str) -> None:
    validate_cluster_name(name)


@pytest.mark.parametrize(
    "name", ["", "A", "-a", "a-", "a.b", "a_b", "a\n", "x" * (MAX_CLUSTER_NAME_LEN + 1)]
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(ValidationError, match="invalid"):
        validate_cluster_name(name)


def test_upstream_name_limit_is_53() -> None:
    assert MAX_CLUSTER_NAME_LEN == 53  # 63 minus len("-scheduler")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (CreateMode.CONNECT_ONLY, CreateMode.CONNECT_ONLY),
        ("CREATE_ONLY", CreateMode.CREATE_ONLY),
        ("create-or-connect", CreateMode.CREATE_OR_CONNECT),
        ("create", CreateMode.CREATE_ONLY),
        ("connect", CreateMode.CONNECT_ONLY),
    ],
)
def test_create_mode_spellings(given: object, expected: CreateMode) -> None:
    assert parse_create_mode(given) is expected  # type: ignore[arg-type]


def test_create_mode_rejects_nonsense() -> None:
    with pytest.raises(ValidationError, match="create_mode must be one of"):
        parse_create_mode("sometimes")


@pytest.mark.parametrize(
    "resources",
    [{"limit": {"cpu": "1"}}, {"limits": "1"}, ["limits"], {"limits": {}, "extra": {}}],
)
def test_bad_resources(resources: object) -> None:
    with pytest.raises(ValueError):  # upstream raised ValueError/TypeError; ours is both a
        validate_resources(resources)  # ValidationError and a ValueError


@pytest.mark.parametrize("n", [-1, 1.5, "3", True, None])
def test_bad_worker_counts(n: object) -> None:
    with pytest.raises(ValidationError):
        validate_worker_count(n)


def test_name_template_is_filled_and_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM", "physics")
    name = expand_name("dask-{TEAM}-{uuid}")
    assert name.startswith("dask-physics-")
    validate_cluster_name(name)
    with pytest.raises(ValidationError, match="cannot fill in"):
        expand_name("dask-{NO_SUCH_VARIABLE_FOR_SURE}")


def test_kubecluster_rejects_bad_arguments_without_touching_kubernetes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An unreachable API: if validation did not come first we would see a connection error.
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    with pytest.raises(ValidationError, match="invalid"):
        KubeCluster(name="Bad_Name", quiet=True)
    with pytest.raises(ValueError, match="unknown field 'limit'"):
        KubeCluster(name="ok", resources={"limit": {"cpu": "1"}}, quiet=True)
    with pytest.raises(KubeClusterError, match="scheduler_service_type"):
        KubeCluster(name="ok", scheduler_service_type="Ingress", quiet=True)
    with pytest.raises(ValidationError, match="custom_cluster_spec"):
        KubeCluster(custom_cluster_spec={"kind": "Pod", "metadata": {"name": "x"}}, quiet=True)


def test_dask_config_supplies_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    with (
        dask.config.set({"kubernetes.name": "BAD NAME FROM CONFIG"}),
        pytest.raises(ValidationError, match="BAD NAME FROM CONFIG"),
    ):
        KubeCluster(quiet=True)


def test_custom_cluster_spec_from_yaml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ValidationError, match="cannot read custom_cluster_spec"):
        KubeCluster(custom_cluster_spec=str(tmp_path / "missing.yaml"), quiet=True)
    bad_name = tmp_path / "bad.yaml"
    bad_name.write_text(yaml.safe_dump(make_cluster_spec("Not_Valid")))
    with pytest.raises(ValidationError, match="'Not_Valid' is invalid"):
        KubeCluster(custom_cluster_spec=bad_name, quiet=True)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(make_cluster_spec("from-file")))
    # Parsed and validated; it then fails only for want of a Kubernetes to talk to.
    with pytest.raises(KubernetesUnreachableError):
        KubeCluster(custom_cluster_spec=good, quiet=True)
