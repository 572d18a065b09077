"""Kubernetes failures reach the user as one clear exception each."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import kr8s
import pytest

from dask_kubernetes.operator.kubecluster import KubeCluster
from dask_kubernetes.operator.kubecluster.errors import (
    ClusterExistsError,
    KubeClusterError,
    KubernetesForbiddenError,
    KubernetesUnreachableError,
    NamespaceNotFoundError,
    OperatorNotInstalledError,
)
from dask_kubernetes.operator.kubecluster.kr8s_api import kubernetes_errors


def server_error(code: int, body: dict[str, object]) -> kr8s.ServerError:
    response = httpx.Response(code, json=body, request=httpx.Request("POST", "http://x"))
    return kr8s.ServerError(str(body.get("message")), status=body, response=response)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "body", "dask_resource", "expected"),
    [
        (403, {"message": "forbidden: User cannot create"}, False, KubernetesForbiddenError),
        (401, {"message": "Unauthorized"}, False, KubernetesForbiddenError),
        (404, {"message": "not found"}, True, OperatorNotInstalledError),
        (
            404,
            {"message": 'namespaces "nope" not found', "details": {"kind": "namespaces"}},
            True,
            NamespaceNotFoundError,
        ),
        (409, {"message": "already exists"}, True, ClusterExistsError),
        (500, {"message": "boom"}, False, KubeClusterError),
    ],
)
def test_server_errors_are_translated(
    code: int, body: dict[str, object], dask_resource: bool, expected: type[Exception]
) -> None:
    with pytest.raises(expected) as caught, kubernetes_errors(dask_resource=dask_resource):
        raise server_error(code, body)
    assert type(caught.value) is expected
    assert caught.value.__cause__ is None  # no chained kr8s traceback for the user


def test_operator_missing_message_points_to_docs() -> None:
    assert "operator is not installed" in str(OperatorNotInstalledError())
    assert "https://" in str(OperatorNotInstalledError())


def test_transport_errors_mean_unreachable() -> None:
    with pytest.raises(KubernetesUnreachableError, match="Cannot reach"), kubernetes_errors():
        raise httpx.ConnectError("All connection attempts failed")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_kubecluster_with_unreachable_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{closed_port()}'}}}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u, namespace: ns}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    with pytest.raises(KubernetesUnreachableError, match="Cannot reach the Kubernetes API"):
        KubeCluster(name="unreachable", quiet=True)


def test_kubecluster_without_any_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubernetesUnreachableError):
        KubeCluster(name="noconfig", quiet=True)
