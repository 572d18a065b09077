"""HelmCluster against the real dask/dask chart, installed by `helm`, on each control plane.

`plane_cluster` runs every test on the emulated stand-in and on the real control plane (our
kubelet as its node; skipped, saying why, without root or binaries). The release is found
through Helm's release Secret; scale-down retires workers through the scheduler first.
"""

from __future__ import annotations

import operator
import os
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kr8s
import pytest
import yaml
from conftest import SETTLE
from distributed import Client
from helm_helpers import eventually, times_computed, worker_count
from kr8s.objects import Deployment, Secret, Service

from dask_kubernetes import HelmCluster
from dask_kubernetes.helm import ReleaseNotFoundError, SchedulerUnreachableError

pytestmark = pytest.mark.e2e


def _api() -> Any:
    """The test's cluster: kr8s would hand back a cached client for the previous plane's."""
    return kr8s.api(kubeconfig=os.environ["KUBECONFIG"])


def _deployment(name: str, namespace: str) -> Any:
    return Deployment.get(name, namespace=namespace, api=_api())


def _spread_data(client: Client) -> tuple[list[Any], int]:
    """Unique results on every worker; returns the futures and their expected sum."""
    futures, expected = [], 0
    for index, address in enumerate(sorted(client.scheduler_info()["workers"])):
        for i in range(4):
            value = index * 10 + i
            expected += 2 * value
            futures.append(
                client.submit(
                    operator.mul,
                    value,
                    2,
                    workers=[address],
                    allow_other_workers=True,  # a lost result may be recomputed elsewhere
                    key=f"part-{index}-{i}",
                )
            )
    client.gather(futures)
    holders = {w for workers in client.who_has(futures).values() for w in workers}
    assert holders == set(client.scheduler_info()["workers"])  # each worker holds results
    return futures, expected


def test_missing_release_is_one_clear_error(
    install_release: Callable[..., str], plane_namespace: str
) -> None:
    with pytest.raises(ReleaseNotFoundError, match="No deployed Helm release 'nope'"):
        HelmCluster("nope", namespace=plane_namespace)


def test_release_without_a_scheduler_is_a_clear_error(
    install_release: Callable[..., str], plane_namespace: str
) -> None:
    release = install_release(plane_namespace, "scheduler.enabled=false")
    with pytest.raises(SchedulerUnreachableError, match="has no scheduler Service"):
        HelmCluster(release, namespace=plane_namespace)


@pytest.mark.slow
def test_scale_logs_from_name_and_close_leaves_the_release(
    install_release: Callable[..., str], plane_namespace: str
) -> None:
    """A release outside the kubeconfig's namespace, by its dask-ctl name: scale both ways, logs."""
    release = install_release(plane_namespace)
    with (
        HelmCluster.from_name(
            f"{release}.{plane_namespace}", port_forward_cluster_ip=True
        ) as cluster,
        Client(cluster) as client,
    ):
        assert cluster.name == f"{release}.{plane_namespace}"
        assert cluster.dashboard_link.startswith("http://127.0.0.1:")
        # The link reaches the scheduler's dashboard (the webui port), not its comm port.
        dashboard = cluster.dashboard_link.removesuffix("/status")
        with urllib.request.urlopen(f"{dashboard}/health", timeout=30) as answer:
            assert answer.read() == b"ok"
        client.wait_for_workers(1, timeout=SETTLE)
        cluster.scale(3)
        client.wait_for_workers(3, timeout=SETTLE)
        logs = cluster.get_logs()
        schedulers = [name for name in logs if f"{release}-dask-scheduler" in name]
        workers = [name for name in logs if f"{release}-dask-worker" in name]
        assert len(schedulers) == 1 and len(workers) == 3, sorted(logs)
        assert "Scheduler at" in logs[schedulers[0]]
        cluster.scale(1)
        eventually(lambda: worker_count(client) == 1, SETTLE, "one worker left")
        deployment = _deployment(f"{release}-dask-worker", plane_namespace)
        assert deployment.spec.replicas == 1
    # Closing disconnects only: the release and its workers are still there.
    secrets = list(
        Secret.list(
            namespace=plane_namespace, label_selector=f"owner=helm,name={release}", api=_api()
        )
    )
    assert secrets
    assert _deployment(f"{release}-dask-worker", plane_namespace).spec.replicas == 1


@pytest.mark.slow
@pytest.mark.slow
def test_name_scheduler_name_and_worker_name_are_used(
    install_release: Callable[..., str],
    plane_namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Upstream's `name`, `scheduler_name` and `worker_name` name what HelmCluster looks for;
    without `namespace` the kubeconfig's namespace is used.

    The chart names its objects `-scheduler` and `-worker` whatever the values say, so another
    component name is only seen failing on the object it names.
    """
    release = install_release(plane_namespace)
    config = yaml.safe_load(Path(os.environ["KUBECONFIG"]).read_text())
    for context in config["contexts"]:
        context["context"]["namespace"] = plane_namespace
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    kubeconfig.chmod(0o600)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    with pytest.raises(
        SchedulerUnreachableError, match=f"no scheduler Service '{release}-dask-sched'"
    ):
        HelmCluster(release, scheduler_name="sched")
    # distributed keeps a cluster manager's name on the scheduler and a later one takes it over,
    # so the default name is seen on a release of its own.
    other = install_release(plane_namespace)
    with HelmCluster(other) as unnamed:
        assert unnamed.name == f"{other}.{plane_namespace}"
    with (
        HelmCluster(release, name="analytics", worker_name="wrk") as cl,
        Client(cl) as client,
    ):
        assert cl.name == "analytics" and cl.namespace == plane_namespace
        assert client.submit(operator.add, 1, 2).result(timeout=SETTLE) == 3
        with pytest.raises(SchedulerUnreachableError, match=f"Deployment '{release}-dask-wrk'"):
            cl.scale(2)
    assert _deployment(f"{release}-dask-worker", plane_namespace).spec.replicas == 1


@pytest.mark.slow
def test_node_host_and_node_port_reach_a_node_port_scheduler(
    install_release: Callable[..., str], plane_cluster: Any, plane_namespace: str
) -> None:
    """`node_host`/`node_port`: the scheduler through a NodePort Service on a node, no forward."""
    if plane_cluster.plane != "real":
        pytest.skip(
            "the emulated node lists no address and listens on no node port "
            "(HelmCluster port-forwards there); the real plane's node ports are on 127.0.0.1"
        )
    release = install_release(plane_namespace, "scheduler.serviceType=NodePort")
    service = Service.get(f"{release}-dask-scheduler", namespace=plane_namespace, api=_api())
    node_ports = {p["name"]: p["nodePort"] for p in service.raw["spec"]["ports"]}
    comm, webui = node_ports[f"{release}-dask-scheduler"], node_ports[f"{release}-dask-webui"]
    with (
        HelmCluster(
            release, namespace=plane_namespace, node_host="127.0.0.1", node_port=comm
        ) as cluster,
        Client(cluster) as client,
    ):
        assert cluster.scheduler_address == f"tcp://127.0.0.1:{comm}"
        assert client.submit(operator.add, 1, 2).result(timeout=SETTLE) == 3
        assert cluster.dashboard_link == f"http://127.0.0.1:{webui}/status"
        with urllib.request.urlopen(f"http://127.0.0.1:{webui}/health", timeout=30) as answer:
            assert answer.read() == b"ok"
    # Without node_host/node_port the node's address is found through the API: the same port.
    with HelmCluster(release, namespace=plane_namespace) as cluster:
        assert cluster.scheduler_address == f"tcp://127.0.0.1:{comm}"


@pytest.mark.slow
def test_scale_down_moves_data_so_nothing_is_recomputed(
    install_release: Callable[..., str], plane_namespace: str
) -> None:
    release = install_release(plane_namespace, "worker.replicas=3")
    with (
        HelmCluster(release, namespace=plane_namespace, port_forward_cluster_ip=True) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(3, timeout=SETTLE)
        futures, expected = _spread_data(client)
        cluster.scale(1)
        eventually(lambda: worker_count(client) == 1, SETTLE, "scaled down to one worker")
        assert client.submit(sum, futures).result(timeout=SETTLE) == expected
        counts = times_computed(client, [f.key for f in futures])
        assert counts == {f.key: 1 for f in futures}


@pytest.mark.slow
def test_scale_down_by_replicas_alone_loses_results(
    install_release: Callable[..., str], plane_namespace: str
) -> None:
    """The control: upstream's scale-down (patch replicas) loses data, and the check sees it."""
    release = install_release(plane_namespace, "worker.replicas=3")
    with (
        HelmCluster(release, namespace=plane_namespace, port_forward_cluster_ip=True) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(3, timeout=SETTLE)
        futures, expected = _spread_data(client)
        _deployment(f"{release}-dask-worker", plane_namespace).scale(1)
        eventually(lambda: worker_count(client) == 1, SETTLE, "scaled down to one worker")
        assert client.submit(sum, futures).result(timeout=SETTLE) == expected
        counts = times_computed(client, [f.key for f in futures])
        assert max(counts.values()) > 1, counts


@pytest.mark.slow
def test_adapt_scales_up_under_load_and_back_down(
    install_release: Callable[..., str], plane_namespace: str
) -> None:
    release = install_release(plane_namespace)
    with (
        HelmCluster(release, namespace=plane_namespace, port_forward_cluster_ip=True) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(1, timeout=SETTLE)
        cluster.adapt(minimum=1, maximum=3, interval="500ms", wait_count=2)
        futures = client.map(time.sleep, [0.5] * 60, pure=False)
        eventually(lambda: worker_count(client) >= 2, SETTLE, "adapt added workers")
        client.gather(futures)
        kept = client.submit(operator.add, 1, 2)
        assert kept.result(timeout=SETTLE) == 3
        eventually(lambda: worker_count(client) == 1, SETTLE, "adapt removed idle workers")
        eventually(
            lambda: _deployment(f"{release}-dask-worker", plane_namespace).spec.replicas == 1,
            SETTLE,
            "the Deployment follows",
        )
        assert kept.result() == 3
        assert times_computed(client, [kept.key]) == {kept.key: 1}


def test_a_scheduler_that_never_answers_is_a_clear_error(
    install_release: Callable[..., str], plane_namespace: str
) -> None:
    """The chart's scheduler crashes on start (a bad extra argument): no hang, one error."""
    release = install_release(plane_namespace, "scheduler.extraArgs={--no-such-option}")
    with pytest.raises(SchedulerUnreachableError, match=f"Helm release '{release}'"):
        HelmCluster(
            release, namespace=plane_namespace, port_forward_cluster_ip=True, scheduler_timeout=15
        )


@pytest.mark.slow
def test_worker_groups_discovery_and_the_notebook_left_alone(
    install_release: Callable[..., str], plane_namespace: str
) -> None:
    """`additional_worker_groups` scale on their own; dask-ctl finds the release.

    The notebook is enabled here although this node cannot run its image (the kubelet runs
    processes, and the notebook container has neither command nor args to run): its
    ServiceAccount, Role and Deployment install, and HelmCluster leaves its pod out.
    """
    import asyncio

    from dask_kubernetes.helm import discover

    release = install_release(
        plane_namespace,
        "jupyter.enabled=true",
        "additional_worker_groups[0].name=extra",
        "additional_worker_groups[0].replicas=1",
    )
    with (
        HelmCluster(release, namespace=plane_namespace, port_forward_cluster_ip=True) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(2, timeout=SETTLE)
        cluster.scale(2, worker_group="extra")
        client.wait_for_workers(3, timeout=SETTLE)
        kept = client.submit(operator.add, 40, 2)
        assert kept.result(timeout=SETTLE) == 42
        cluster.scale(0, worker_group="extra")
        eventually(lambda: worker_count(client) == 1, SETTLE, "the extra group scaled to zero")
        assert _deployment(f"{release}-dask-worker", plane_namespace).spec.replicas == 1
        assert _deployment(f"{release}-dask-worker-extra", plane_namespace).spec.replicas == 0
        assert kept.result() == 42 and times_computed(client, [kept.key]) == {kept.key: 1}
        with pytest.raises(ValueError, match="No such worker group 'nope'"):
            cluster.scale(1, worker_group="nope")
        assert not [name for name in cluster.get_logs() if "jupyter" in name]

    async def names() -> list[str]:
        return [name async for name, kind in discover() if kind is HelmCluster]

    assert f"{release}.{plane_namespace}" in asyncio.run(names())


def test_asynchronous_use(install_release: Callable[..., str], plane_namespace: str) -> None:
    """`asynchronous=True`, as upstream allowed: start on `async with`, awaitable scale."""
    import asyncio

    release = install_release(plane_namespace)

    async def run() -> int:
        # port_forward_cluster_ip left at its default: outside the cluster, that forwards.
        async with HelmCluster(release, namespace=plane_namespace, asynchronous=True) as cluster:
            await cluster.scale(2)
            await cluster.wait_for_workers(2, timeout=SETTLE)
            return len(cluster.scheduler_info["workers"])

    assert asyncio.run(run()) == 2
    assert _deployment(f"{release}-dask-worker", plane_namespace).spec.replicas == 2
