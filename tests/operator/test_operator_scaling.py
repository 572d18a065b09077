"""Worker groups: scale up and down through the scheduler (no held result lost), replacement."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import kr8s
import pytest
from distributed import Client
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from operator_examples import local_cluster
from operator_helpers import (
    DaskCluster,
    DaskWorkerGroup,
    live,
    make,
    pods,
    scheduler_address,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("operator_logs")]


def _scale_subresource(kubeconfig: str, ns: str, name: str, replicas: int) -> None:
    """`kubectl scale daskworkergroup NAME --replicas=N`: a PATCH of the scale subresource."""
    api_client = k8s_config.new_client_from_config(config_file=kubeconfig)
    try:
        k8s_client.CustomObjectsApi(api_client).patch_namespaced_custom_object_scale(
            "kubernetes.dask.org",
            "v1",
            ns,
            "daskworkergroups",
            name,
            {"spec": {"replicas": replicas}},
        )
    finally:
        api_client.close()


def _workers(api: kr8s.Api, ns: str, group: str) -> list[Any]:
    return live(pods(api, ns, {"dask.org/workergroup-name": group}))


@pytest.fixture
def running_cluster(
    kube: kr8s.Api, k8s_cluster: Any, ns: str, request: pytest.FixtureRequest
) -> Iterator[tuple[str, Client]]:
    manifest = local_cluster("scale", replicas=1)
    restart_policy = getattr(request, "param", None)
    if restart_policy:
        manifest["spec"]["worker"]["spec"]["restartPolicy"] = restart_policy
    make(DaskCluster, manifest, ns, kube)
    with (
        scheduler_address(k8s_cluster, kube, ns, "scale") as address,
        Client(address, timeout="30s") as client,
    ):
        client.wait_for_workers(1, timeout=60)
        yield "scale-default", client


def test_held_results_survive_scale_up_and_down(
    kube: kr8s.Api, k8s_cluster: Any, ns: str, running_cluster: tuple[str, Client]
) -> None:
    group, client = running_cluster
    _scale_subresource(k8s_cluster.kubeconfig, ns, group, 3)
    client.wait_for_workers(3, timeout=90)
    # Scattered data cannot be recomputed: losing it would fail the gather below.
    held = {}
    for address in client.scheduler_info()["workers"]:
        [future] = client.scatter([address * 3], workers=[address])
        held[address] = future
    assert len(held) == 3

    DaskWorkerGroup.get(group, namespace=ns, api=kube).patch({"spec": {"worker": {"replicas": 1}}})
    wait_for("one worker Pod left", lambda: len(_workers(kube, ns, group)) == 1, timeout=90)
    wait_for("one worker at the scheduler", lambda: len(client.scheduler_info()["workers"]) == 1)
    assert client.gather(list(held.values())) == [a * 3 for a in held]
    # Exactly the retired workers' pods went: the survivor is the one the scheduler kept.
    (survivor,) = _workers(kube, ns, group)
    (kept,) = client.scheduler_info()["workers"].values()
    assert kept["name"] == survivor.name
    status = DaskWorkerGroup.get(group, namespace=ns, api=kube).raw["status"]
    assert status["replicas"] == 1
    assert status["selector"] == (
        f"dask.org/cluster-name=scale,dask.org/component=worker,dask.org/workergroup-name={group}"
    )


@pytest.mark.parametrize("running_cluster", ["Never"], indirect=True)
def test_killed_worker_is_replaced(
    kube: kr8s.Api, ns: str, running_cluster: tuple[str, Client]
) -> None:
    group, client = running_cluster
    wg = DaskWorkerGroup.get(group, namespace=ns, api=kube)
    # restartPolicy Never: the kubelet will not restart it, so the operator must replace the Pod.
    wg.patch({"spec": {"worker": {"replicas": 2}}})
    client.wait_for_workers(2, timeout=90)
    victim_address, victim = next(iter(client.scheduler_info()["workers"].items()))
    before = {p.name for p in _workers(kube, ns, group)}
    # The worker process ends itself, with no cleanup, as a crash does: on every node (a
    # signal from here could not reach into a container's process namespace).
    client.run(lambda: threading.Timer(0.5, os._exit, (1,)).start(), workers=[victim_address])
    wait_for(
        "a replacement worker Pod",
        lambda: (
            len(names := {p.name for p in _workers(kube, ns, group)}) == 2
            and victim["name"] not in names
            and names != before
        ),
        timeout=90,
    )
    wait_for("two workers at the scheduler", lambda: len(client.scheduler_info()["workers"]) == 2)
