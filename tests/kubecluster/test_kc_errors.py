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
    InvalidKubeconfigError,
    KubeClusterError,
    KubernetesForbiddenError,
    KubernetesUnauthorizedError,
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
        (401, {"message": "Unauthorized"}, False, KubernetesUnauthorizedError),
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


def write_kubeconfig(path: Path, server: str, cluster: str = "c", user: str = "u") -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: ctx\n"
        f"clusters: [{{name: {cluster}, cluster: {{server: '{server}'}}}}]\n"
        f"contexts: [{{name: ctx, context: {{cluster: {cluster}, user: {user}, namespace: ns}}}}]\n"
        f"users: [{{name: {user}, user: {{token: t}}}}]\n"
    )
    return path


def test_kubecluster_with_unreachable_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "config", server)))
    with pytest.raises(KubernetesUnreachableError, match="Cannot reach the Kubernetes API") as e:
        KubeCluster(name="unreachable", quiet=True)
    # The address that refused, and no stand-in hint for a kubeconfig the stand-in did not write.
    assert server in str(e.value)
    assert "dask kubernetes local" not in str(e.value)


def test_stopped_stand_in_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kubeconfig written by `dask kubernetes local` (its cluster entry carries the stand-in's
    name) whose server is gone: the message names the server and asks whether it still runs."""
    from dask_kubernetes.common.standin_marks import CONTEXT_NAME

    server = f"https://127.0.0.1:{closed_port()}"
    kubeconfig = write_kubeconfig(tmp_path / "config", server, CONTEXT_NAME, CONTEXT_NAME)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    with pytest.raises(KubernetesUnreachableError) as caught:
        KubeCluster(name="standin-gone", quiet=True)
    assert server in str(caught.value)
    assert "is `dask kubernetes local` still running?" in str(caught.value)


def test_unauthorized_names_the_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config", "https://127.0.0.1:1", user="alice")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    with pytest.raises(KubernetesUnauthorizedError) as caught, kubernetes_errors():
        raise server_error(401, {"message": "Unauthorized"})
    message = str(caught.value)
    assert "did not accept the credentials of user 'alice'" in message
    assert str(kubeconfig) in message
    assert "expired" in message
    # Code written against the earlier release, which raised Forbidden for a 401, still works.
    assert isinstance(caught.value, KubernetesForbiddenError)


def test_missing_kubeconfig_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere" / "config"
    monkeypatch.setenv("KUBECONFIG", str(missing))
    with pytest.raises(InvalidKubeconfigError) as caught:
        KubeCluster(name="noconfig", quiet=True)
    assert f"KUBECONFIG names {missing}, which does not exist" in str(caught.value)
    assert "set KUBECONFIG" not in str(caught.value)  # it is set


def test_missing_stand_in_kubeconfig_says_to_restart_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dask_kubernetes.common.standin_marks import STATE_DIR_PREFIX

    missing = tmp_path / f"{STATE_DIR_PREFIX}abc123" / "kubeconfig"
    monkeypatch.setenv("KUBECONFIG", str(missing))
    with pytest.raises(InvalidKubeconfigError, match="start it again") as caught:
        KubeCluster(name="noconfig", quiet=True)
    assert str(missing) in str(caught.value)


GARBLED = "apiVersion: v1\nclusters: [\n  - name: x\n   bad: : :\n"


def test_garbled_kubeconfig_names_file_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    garbled = tmp_path / "config"
    garbled.write_text(GARBLED)
    monkeypatch.setenv("KUBECONFIG", str(garbled))
    with pytest.raises(InvalidKubeconfigError) as caught:
        KubeCluster(name="garbled", quiet=True)
    message = str(caught.value)
    assert f"kubeconfig {garbled} is not valid YAML: line 3, column 3" in message
    assert len(message.splitlines()) == 1
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_garbled_default_kubeconfig_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text(GARBLED)
    with pytest.raises(InvalidKubeconfigError, match=r"\.kube/config is not valid YAML: line 3"):
        KubeCluster(name="garbled", quiet=True)


def test_kubecluster_without_any_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubernetesUnreachableError):
        KubeCluster(name="noconfig", quiet=True)


def test_no_kubeconfig_at_all_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubernetesUnreachableError) as caught:
        KubeCluster(name="noconfig", quiet=True)
    assert f"{tmp_path}/.kube/config does not exist" in str(caught.value)
    assert "dask kubernetes local" in str(caught.value)
