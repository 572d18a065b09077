"""Each failure a user can meet gives one clear exception, and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kr8s
import pytest
from e2e_helpers import IMAGE, RESOURCE_TIMEOUT, cluster_pods, object_names, wait_until
from kr8s.objects import CustomResourceDefinition

from dask_kubernetes.operator.kubecluster import KubeCluster, make_cluster_spec
from dask_kubernetes.operator.kubecluster.errors import (
    ClusterExistsError,
    ClusterNotFoundError,
    KubernetesForbiddenError,
    NamespaceNotFoundError,
    OperatorNotInstalledError,
    OperatorNotRunningError,
    SchedulerStartupError,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]


def test_name_taken_and_name_missing(operator_cluster: Any, namespace: str) -> None:
    with (
        KubeCluster(
            name="taken",
            namespace=namespace,
            image=IMAGE,
            n_workers=0,
            resource_timeout=RESOURCE_TIMEOUT,
            quiet=True,
        ),
        pytest.raises(ClusterExistsError, match="already exists"),
    ):
        KubeCluster(name="taken", namespace=namespace, create_mode="CREATE_ONLY", quiet=True)
    with pytest.raises(ClusterNotFoundError, match="No Dask cluster named 'missing'"):
        KubeCluster.from_name("missing", namespace=namespace, quiet=True)


def test_missing_namespace(operator_cluster: Any) -> None:
    with pytest.raises(NamespaceNotFoundError, match="does not exist"):
        KubeCluster(name="lost", namespace="no-such-namespace-e2e", quiet=True)


def test_scheduler_that_cannot_start(operator_cluster: Any, namespace: str) -> None:
    spec = make_cluster_spec("crashing", image=IMAGE, n_workers=0)
    spec["spec"]["scheduler"]["spec"]["containers"][0]["args"][0] = "dask-schmeduler"
    with pytest.raises(SchedulerStartupError, match="Scheduler failed to start"):
        KubeCluster(custom_cluster_spec=spec, namespace=namespace, resource_timeout=3, quiet=True)
    # We created it, so a failed start deletes it again.
    wait_until(
        lambda: not cluster_pods(operator_cluster.kubeconfig, namespace, "crashing"),
        RESOURCE_TIMEOUT,
        "the failed cluster's pods to be removed",
    )


@pytest.fixture(params=["get", "create"])
def forbidden_verb(
    operator_cluster: Any,
    namespace: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[str]:
    """One verb is refused with 403: on the real plane by real RBAC, on the emulated plane by the
    API server's fault injection, as missing RBAC would."""
    if operator_cluster.plane == "real":
        as_service_account_without(request.param, operator_cluster, namespace, tmp_path)
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
        yield str(request.param)
        return
    server = operator_cluster.require_api_server()
    server.faults.configure(error_rate=1.0, error_codes=(403,), verbs={request.param})
    try:
        yield str(request.param)
    finally:
        server.faults.clear()


def as_service_account_without(verb: str, cluster: Any, namespace: str, directory: Path) -> None:
    """Write `directory`/kubeconfig for a ServiceAccount of `namespace` that may do nothing
    ("get" refused) or only read ("create" refused), under the real RBAC authorizer."""
    from dask_kubernetes.local.controlplane.kubeconfigs import token_kubeconfig
    from dask_kubernetes.local.controlplane.serviceaccounts import request_token, username

    real = cluster.stand_in.real
    kubectl = real.plane.binaries / "kubectl"
    admin = real.admin_kubeconfig(directory / "admin-kubeconfig")

    def run(*args: str) -> None:
        argv = [str(kubectl), "--kubeconfig", str(admin), "-n", namespace, *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr

    run("create", "serviceaccount", "denied")
    if verb == "create":
        run("create", "role", "reader", "--verb=get,list,watch", "--resource=*.*")
        run(
            "create",
            "rolebinding",
            "reader",
            "--role=reader",
            f"--serviceaccount={namespace}:denied",
        )
    token = request_token(kubectl, admin, namespace, "denied")
    ca = real.plane.ca_cert
    token_kubeconfig(
        directory / "kubeconfig",
        cluster.stand_in.url,
        ca,
        token,
        name=username(namespace, "denied"),
    )


def test_forbidden(operator_cluster: Any, namespace: str, forbidden_verb: str) -> None:
    with pytest.raises(KubernetesForbiddenError, match="Kubernetes refused the request"):
        KubeCluster(name="denied", namespace=namespace, quiet=True)


def test_operator_missing_then_not_running(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in of its own, never with an operator: no CRDs, then CRDs but nothing acting."""
    if os.environ.get("DASK_KUBERNETES_TEST_KUBECONFIG"):
        pytest.skip("needs a cluster without the operator; a real test cluster has it")
    from dask_kubernetes.local import LocalKubernetes
    from dask_kubernetes.operator.crds import load_crds

    with LocalKubernetes(operator=False) as bare:
        monkeypatch.setenv("KUBECONFIG", bare.kubeconfig)
        with pytest.raises(OperatorNotInstalledError, match="operator is not installed"):
            KubeCluster(name="nooperator", namespace="default", quiet=True)

        api = kr8s.api(kubeconfig=bare.kubeconfig)
        for crd in load_crds():
            CustomResourceDefinition(crd, api=api).create()
        wait_until(
            lambda: "daskclusters" in {r["name"] for r in api.api_resources()},
            RESOURCE_TIMEOUT,
            "the DaskCluster resource to be served",
        )
        with pytest.raises(OperatorNotRunningError, match="is the Dask Operator running"):
            KubeCluster(name="nooperator", namespace="default", resource_timeout=1, quiet=True)
        # The failed start removed what it created.
        assert "nooperator" not in object_names(bare.kubeconfig, "daskclusters", "default")
