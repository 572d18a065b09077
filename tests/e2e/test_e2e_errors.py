"""Each failure a user can meet gives one clear exception, and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kr8s
import pytest
import yaml
from e2e_helpers import DASK_CLI, IMAGE, RESOURCE_TIMEOUT, cluster_pods, object_names, wait_until
from kr8s.objects import CustomResourceDefinition

from dask_kubernetes.operator.kubecluster import KubeCluster, make_cluster_spec
from dask_kubernetes.operator.kubecluster.errors import (
    ClusterExistsError,
    ClusterNotFoundError,
    InvalidKubeconfigError,
    KubernetesForbiddenError,
    KubernetesUnauthorizedError,
    KubernetesUnreachableError,
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
    from dask_kubernetes.local.controlplane.serviceaccounts import request_token, username
    from dask_kubernetes.local.credentials.kubeconfig import token_kubeconfig

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


def dask_kubernetes_list(kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    """`dask kubernetes list` as a user runs it, with `kubeconfig`."""
    return subprocess.run(
        [*DASK_CLI, "kubernetes", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )


def test_wrong_token_is_unauthorized_not_forbidden(
    operator_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cluster's kubeconfig with a token it never issued: 401, worded as such."""
    config = yaml.safe_load(Path(operator_cluster.kubeconfig).read_text())
    for user in config["users"]:
        user["user"] = {"token": "not-a-token-this-cluster-issued"}
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    with pytest.raises(KubernetesUnauthorizedError) as caught:
        KubeCluster(name="badtoken", quiet=True)
    assert "did not accept the credentials of user" in str(caught.value)
    assert str(kubeconfig) in str(caught.value)
    result = dask_kubernetes_list(kubeconfig)
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: Kubernetes did not accept the credentials"), line


def test_stopped_stand_in_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After `dask kubernetes local` stops: its kubeconfig is gone (named, with what to do), and
    a copy of it points at a server that refuses (named, asking whether the stand-in runs)."""
    if os.environ.get("DASK_KUBERNETES_TEST_KUBECONFIG"):
        pytest.skip("about the local stand-in; the suite runs on an external cluster")
    from dask_kubernetes.local import LocalKubernetes

    with LocalKubernetes() as k8s:
        copy = tmp_path / "kubeconfig"
        copy.write_text(Path(k8s.kubeconfig).read_text())
        original, url = Path(k8s.kubeconfig), k8s.url
    monkeypatch.setenv("KUBECONFIG", str(original))
    with pytest.raises(InvalidKubeconfigError, match="start it again") as missing:
        KubeCluster(name="gone", quiet=True)
    assert f"KUBECONFIG names {original}, which does not exist" in str(missing.value)

    monkeypatch.setenv("KUBECONFIG", str(copy))
    with pytest.raises(KubernetesUnreachableError) as caught:
        KubeCluster(name="gone", quiet=True)
    assert url in str(caught.value)
    assert "is `dask kubernetes local` still running?" in str(caught.value)
    result = dask_kubernetes_list(copy)
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert url in line and "dask kubernetes local" in line, line
