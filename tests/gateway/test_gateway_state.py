"""State lives in the custom resources: a restarted gateway and a second replica serve every
running cluster; a cluster whose client vanished stops after its idle timeout, leaving nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import RunningGateway, http, keep, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(240)]


def _n_workers(client: Any) -> int:
    return len(client.scheduler_info(n_workers=-1)["workers"])


def test_restart_and_a_second_replica_serve_running_clusters(
    gateway: RunningGateway,
    spawn_gateway: Callable[[Path], RunningGateway],
    tmp_path: Path,
    cleanup: None,
) -> None:
    alice = gateway.gateway("alice")
    cluster = keep(alice.new_cluster())
    name = cluster.name
    cluster.scale(1)
    wait_for(lambda: len(gateway.pods({"dask.org/component": "worker"})) == 1, "a worker Pod")

    replica = spawn_gateway(tmp_path / "b")
    try:
        via_b = replica.gateway("alice")
        assert [c.name for c in via_b.list_clusters()] == [name]
        assert via_b.list_clusters()[0].status.name == "RUNNING"
        assert replica.gateway("bob").list_clusters() == []
        other = keep(via_b.connect(name))
        client = keep(other.get_client())
        wait_for(lambda: _n_workers(client) == 1, "the worker, seen through replica B")
        assert client.submit(sum, [20, 22]).result() == 42
        # Scaling through B reaches the same DaskCluster.
        other.scale(2)
        wait_for(lambda: _n_workers(client) == 2, "2 workers after scaling through B")
        dashboard = f"{replica.address}/clusters/{name}/status"
        assert http(dashboard, headers=replica.basic("alice"))[0] == 200
        client.close()
    finally:
        replica.stop()
    # A fresh gateway (a restart) finds it too, with its credentials.
    restarted = spawn_gateway(tmp_path / "c")
    try:
        again = keep(restarted.gateway("alice").connect(name))
        with keep(again.get_client()) as client:
            assert client.submit(sum, [1, 1]).result() == 2
        restarted.gateway("alice").stop_cluster(name)
        wait_for(lambda: not gateway.daskclusters(), "the cluster stopped through the restart")
    finally:
        restarted.stop()
        cluster.close()  # shutdown_on_close: finds it stopped already (a no-op)


def test_idle_cluster_is_stopped_and_nothing_is_orphaned(
    gateway: RunningGateway, cleanup: None
) -> None:
    """The admin's handler gives users named idle-* a 6 s idle timeout."""
    with keep(gateway.gateway("idle-ida")) as gw:
        cluster = keep(gw.new_cluster(shutdown_on_close=False))
        name = cluster.name
        cluster.scale(1)
        client = keep(cluster.get_client())
        wait_for(lambda: _n_workers(client) == 1, "a worker")
        assert client.submit(sum, [3, 4]).result() == 7
        client.close()  # the client vanishes; the cluster idles
        cluster.close()
        wait_for(lambda: not gateway.daskclusters(), "the idle cluster to be stopped", 90)
        wait_for(
            lambda: not gateway.pods({"dask.org/cluster-name": name}), "its Pods to be gone", 90
        )
        wait_for(
            lambda: not [s for s in gateway.secrets() if s.startswith(name)],
            "its Secrets to be gone",
            90,
        )
        assert gw.list_clusters() == []
