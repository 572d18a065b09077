"""The real dask_gateway client against our backend: a user's whole session, end to end.

`Gateway`, `new_cluster`, `scale`, `get_client` (TLS through the proxy's SNI route), a
computation checked for its result, `list_clusters`, `connect`, the dashboard link fetched
through the proxy, `adapt`, scale-down retiring each worker exactly once, `stop_cluster`,
and `shutdown_on_close`. Each cluster is a DaskCluster our operator runs on the stand-in.
"""

from __future__ import annotations

from typing import Any

import pytest
from dask_gateway import GatewayCluster
from gateway_helpers import RunningGateway, http, keep, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _n_workers(client: Any) -> int:
    return len(client.scheduler_info(n_workers=-1)["workers"])


def _retirements(client: Any) -> list[str]:
    """Every worker address any `retire_workers` call retired, once per retirement."""
    retired: list[str] = []
    for _, event in client.get_events("all"):
        if isinstance(event, dict) and event.get("action") == "retire-workers":
            retired.extend(event.get("retired") or [])
    return retired


def test_a_users_session(gateway: RunningGateway, cleanup: None) -> None:
    with gateway.gateway("alice") as gw:
        assert gw.list_clusters() == []
        cluster = keep(gw.new_cluster())
        try:
            name = cluster.name
            [obj] = gateway.daskclusters()
            assert obj.name == name
            assert obj.annotations["gateway.dask.org/user"] == "alice"
            assert "alice" not in str(obj.labels)
            assert obj.spec["tls"] is True

            cluster.scale(3)
            client = cluster.get_client()
            assert client.scheduler.address.startswith("gateway://")
            wait_for(lambda: _n_workers(client) == 3, "3 workers")
            assert client.submit(sum, range(101)).result() == 5050

            assert [c.name for c in gw.list_clusters()] == [name]
            with keep(gw.connect(name)) as again:
                assert again.name == name

            status, body = http(cluster.dashboard_link, headers=gateway.basic("alice"))
            assert status == 200, body[:300]
            assert b"bokeh" in body.lower() or b"dask" in body.lower()

            # Scale down: the operator retires exactly two workers, each once; none restarts.
            pods_before = {p.name for p in gateway.pods({"dask.org/component": "worker"})}
            cluster.scale(1)
            wait_for(lambda: _n_workers(client) == 1, "1 worker")
            wait_for(
                lambda: len(gateway.pods({"dask.org/component": "worker"})) == 1,
                "the retired workers' Pods to be deleted",
            )
            retired = _retirements(client)
            assert len(retired) == 2 and len(set(retired)) == 2, retired
            pods_after = {p.name for p in gateway.pods({"dask.org/component": "worker"})}
            assert pods_after < pods_before  # the survivor is an original: nothing was replaced
            assert client.submit(sum, range(11)).result() == 55

            cluster.adapt(minimum=2, maximum=2)
            wait_for(lambda: _n_workers(client) == 2, "adapt's minimum of 2 workers")
            client.close()
        finally:
            gw.stop_cluster(cluster.name)
            cluster.close()  # its own shutdown (shutdown_on_close) finds it stopped: a no-op
        wait_for(lambda: not gateway.daskclusters(), "the DaskCluster to be deleted")
        wait_for(
            lambda: not [s for s in gateway.secrets() if s.startswith(name)],
            "its Secrets to be garbage collected",
        )
        assert gw.list_clusters() == []


def test_shutdown_on_close(gateway: RunningGateway, cleanup: None) -> None:
    with gateway.gateway("carol") as gw:
        cluster = keep(
            GatewayCluster(address=gateway.address, auth=gw.auth, shutdown_on_close=True)
        )
        with cluster:
            name = cluster.name
            assert [c.name for c in gateway.daskclusters()] == [name]
        wait_for(lambda: not gateway.daskclusters(), "the closed cluster's DaskCluster to go")
        assert gw.list_clusters() == []
