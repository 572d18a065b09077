"""A name given to the client never becomes a path the API server would read as another one.

Why: issue #21 asked for names to be checked as the API server checks them before they become
URL paths, in every client. KubeCluster's `find_object` (under `dask kubernetes scale | delete |
logs` and the waits) joined name and namespace into `namespaces/{ns}/daskclusters/{name}`, and
the HTTP client resolves dot segments (and cuts at `#` or `?`) before sending: on the stand-in,
`dask kubernetes delete ../../OTHER/daskclusters/victim -n mine` deleted namespace OTHER's
cluster and printed "Deleted mine/../../OTHER/daskclusters/victim". Each such name is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import kr8s
import pytest
from click.testing import CliRunner

from dask_kubernetes.cli import kubernetes
from dask_kubernetes.operator.kubecluster import make_cluster_spec
from dask_kubernetes.operator.kubecluster.errors import ValidationError
from dask_kubernetes.operator.kubecluster.kr8s_api import connect, find_object
from dask_kubernetes.operator.kubecluster.resources import DaskCluster

pytestmark = pytest.mark.slow


@pytest.fixture
def victim(
    k8s_cluster_with_operator: Any,
    make_namespace: Callable[[Any], str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[str, str]:
    """Namespace OTHER holds DaskCluster `victim`; the attacker works in namespace `mine`."""
    cluster = k8s_cluster_with_operator
    monkeypatch.setenv("KUBECONFIG", cluster.kubeconfig)
    other, mine = make_namespace(cluster), make_namespace(cluster)
    manifest = make_cluster_spec("victim", n_workers=0)
    manifest["spec"]["tls"] = False
    kind = kr8s.objects.new_class(kind="DaskCluster", version=DaskCluster.version, namespaced=True)
    kind(manifest, namespace=other, api=kr8s.api(kubeconfig=cluster.kubeconfig)).create()
    return other, mine


def _exists(other: str) -> bool:
    async def look() -> bool:
        return await find_object(DaskCluster, "victim", other, await connect()) is not None

    return asyncio.run(look())


def _names(other: str) -> list[tuple[str, str]]:
    """(name, namespace) pairs that a path-joining client sends to OTHER's `victim`."""
    return [
        (f"../../{other}/daskclusters/victim", "mine"),
        (f"..%2f..%2f{other}%2fdaskclusters%2fvictim", "mine"),
        ("x", f"{other}/daskclusters/victim#"),
        ("x", f"{other}/daskclusters/victim?"),
    ]


def test_find_object_refuses_names_that_leave_their_namespace(victim: tuple[str, str]) -> None:
    other, mine = victim
    assert _exists(other)  # what each hostile name below would reach if it became a path
    for name, namespace in _names(other):
        namespace = mine if namespace == "mine" else namespace

        async def look(name: str = name, namespace: str = namespace) -> Any:
            return await find_object(DaskCluster, name, namespace, await connect())

        with pytest.raises(ValidationError, match="RFC 1123"):
            asyncio.run(look())


@pytest.mark.parametrize("command", ["delete", "scale", "logs"])
def test_the_cli_refuses_them_in_one_line_and_leaves_the_victim(
    victim: tuple[str, str], command: str
) -> None:
    other, mine = victim
    for name, namespace in _names(other):
        namespace = mine if namespace == "mine" else namespace
        args = [command, name, *(["0"] if command == "scale" else []), "-n", namespace]
        result = CliRunner().invoke(kubernetes, args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert "RFC 1123" in result.output
    assert _exists(other)
