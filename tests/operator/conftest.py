"""Operator fixtures: our CRDs installed in the session's stand-in and our operator as a process;
on the container node (`--node=containers`) the chart's operator, as `helm install` put it there."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kr8s
import pytest
from chart_operator import ChartOperator
from operator_helpers import CRD, OperatorProcess, wait_for
from operator_rbac import (
    RECORD_PERMISSIONS_ENV,
    RECORDED_RBAC_FILE,
    SUITE_SELECTION,
    SuiteSelection,
    used,
    write_permissions,
)

from dask_kubernetes.local.cluster import OPERATOR_USER
from dask_kubernetes.operator.crds import load_crds

#: With DASK_KUBERNETES_TEST_KUBECONFIG: the operator's own kubeconfig (e.g. a ServiceAccount
#: token bound to the chart's RBAC, as tests/controlplane/test_operator_rbac_suite.py sets up).
OPERATOR_KUBECONFIG_ENV = "DASK_KUBERNETES_TEST_OPERATOR_KUBECONFIG"
HERE = Path(__file__).resolve().parent


@pytest.hookimpl(trylast=True)  # after -k / -m have deselected what they deselect
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The recorded-RBAC check judges what the operator did in this session: it runs after every
    other selected test, whatever the file names, and learns whether the whole of this directory
    was selected (if not, it exercises the operator in a child run of its own)."""
    judges = [item for item in items if item.path.name == RECORDED_RBAC_FILE]
    items[:] = [item for item in items if item.path.name != RECORDED_RBAC_FILE] + judges
    selection = config.stash.setdefault(SUITE_SELECTION, SuiteSelection())
    selection.files = {item.path for item in items if item.path.parent == HERE}


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent == HERE and item.path.name != RECORDED_RBAC_FILE:
            item.config.stash.setdefault(SUITE_SELECTION, SuiteSelection()).deselected = True


@pytest.fixture(scope="session")
def kube(k8s_cluster: Any) -> kr8s.Api:
    return kr8s.api(kubeconfig=k8s_cluster.kubeconfig)


@pytest.fixture(scope="session")
def dask_crds(kube: kr8s.Api) -> None:
    """Install the CRDs once (a real cluster may already have them)."""
    for manifest in load_crds():
        crd = CRD(manifest, api=kube)
        if not crd.exists():
            crd.create()
    wait_for(
        "the Dask resources to be served",
        lambda: (
            {"daskclusters", "daskworkergroups", "daskjobs", "daskautoscalers"}
            <= {r["name"] for r in kube.api_resources()}
        ),
    )


@pytest.fixture(scope="session")
def operator(
    k8s_cluster: Any, dask_crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess | ChartOperator]:
    chart_installed = k8s_cluster.plane == "external" and not os.environ.get(
        OPERATOR_KUBECONFIG_ENV
    )
    if k8s_cluster.installed is not None or chart_installed:
        # The container node, or release.yml's kind cluster: the chart's operator, as shipped.
        # (Given its own kubeconfig, as tests/controlplane's RBAC suite gives, the suite runs
        # its operator process under that identity instead.)
        yield ChartOperator(k8s_cluster.kubeconfig)
        return
    log_dir = tmp_path_factory.mktemp("operator")
    kubeconfig = os.environ.get(OPERATOR_KUBECONFIG_ENV) or k8s_cluster.kubeconfig
    if k8s_cluster.stand_in is not None:  # its own token, as the stand-in's own operator has
        kubeconfig = str(k8s_cluster.stand_in.kubeconfig_for(OPERATOR_USER, log_dir / "kubeconfig"))
    runner = OperatorProcess(kubeconfig, log_dir)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()  # its open watches are audited when they end
        record = os.environ.get(RECORD_PERMISSIONS_ENV)
        if record and k8s_cluster.api_server is not None:
            write_permissions(Path(record), used(k8s_cluster.api_server.audit))


@pytest.fixture
def ns(operator: OperatorProcess | ChartOperator, k8s_namespace: str) -> str:
    """A fresh namespace watched by the running operator."""
    return k8s_namespace


@pytest.fixture
def operator_logs(operator: OperatorProcess | ChartOperator) -> Iterator[None]:
    """Print the operator's log on failure (pytest shows captured output)."""
    start = len(operator.logs())
    yield
    print(operator.logs()[start:][-20000:])
