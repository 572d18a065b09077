"""Deleting never waits for the operator (issue 15): no finalizer on any Dask resource.

kopf puts its finalizer on every object a `kopf.timer` serves; with the operator stopped, such
an object can never go, and `kubectl delete` (or `KubeCluster.close()`) hangs.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import kr8s
import kr8s.asyncio
import pytest
from operator_examples import AUTOSCALER, WORKER_GROUP, job_example, local_cluster
from operator_helpers import (
    DaskAutoscaler,
    DaskCluster,
    DaskJob,
    DaskWorkerGroup,
    OperatorProcess,
    kubectl,
    make,
    wait_for,
)

from dask_kubernetes.operator.kubecluster.errors import DeletionUnderWay, ResourceTimeoutError

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("operator_logs")]


def _status(obj: Any) -> dict[str, Any]:
    obj.refresh()
    return dict(obj.raw.get("status") or {})


def _finalizers(obj: Any) -> list[str]:
    obj.refresh()
    return list(obj.metadata.get("finalizers") or [])


def test_deleting_with_the_operator_down_does_not_hang(
    k8s_cluster: Any, kube: kr8s.Api, ns: str, operator: OperatorProcess
) -> None:
    cluster = make(DaskCluster, local_cluster("nofin", replicas=1), ns, kube)
    extra = copy.deepcopy(WORKER_GROUP)
    extra["metadata"] = {"name": "nofin-extra"}
    extra["spec"]["cluster"], extra["spec"]["worker"]["replicas"] = "nofin", 0
    group = make(DaskWorkerGroup, extra, ns, kube)
    autoscaler = copy.deepcopy(AUTOSCALER)
    autoscaler["metadata"] = {"name": "nofin"}
    autoscaler["spec"] = {"cluster": "nofin", "minimum": 1, "maximum": 1}
    scaler = make(DaskAutoscaler, autoscaler, ns, kube)
    job_manifest = job_example()
    job_manifest["metadata"] = {"name": "nofin-job"}
    job_manifest["spec"]["cluster"] = {"spec": local_cluster("nofin-job", replicas=0)["spec"]}
    job_manifest["spec"]["job"]["spec"]["containers"][0]["args"] = ["sleep", "1000000"]
    job = make(DaskJob, job_manifest, ns, kube)

    # Everything handled (kopf would have added its finalizer by the first handling). Two
    # schedulers, a worker and the job's runner start at once: 28 s at load 10 on 2 cores.
    running = 180.0
    wait_for("the cluster Running", lambda: _status(cluster).get("phase") == "Running", running)
    wait_for("the extra group adopted", lambda: group.refresh() or group.metadata.ownerReferences)
    wait_for("the autoscaler's status", lambda: "desired" in _status(scaler))
    wait_for("the job Running", lambda: _status(job).get("jobStatus") == "Running", running)
    job_cluster = DaskCluster.get("nofin-job", namespace=ns, api=kube)
    objects = [cluster, group, scaler, job, job_cluster]
    found = {f"{obj.kind}/{obj.name}": _finalizers(obj) for obj in objects}
    assert found == {name: [] for name in found}

    operator.stop()
    try:
        for kind, name in (("daskautoscaler", "nofin"), ("daskjob", "nofin-job")):
            done = kubectl(k8s_cluster.kubeconfig, "delete", kind, name, "-n", ns, "--timeout=30s")
            assert done.returncode == 0, done.stderr
        # As KubeCluster.close() deletes: in the foreground, waiting for the children.
        done = kubectl(
            k8s_cluster.kubeconfig,
            *("delete", "daskcluster", "nofin", "-n", ns),
            *("--cascade=foreground", "--timeout=60s"),
        )
        assert done.returncode == 0, done.stderr
        assert not cluster.exists()
        wait_for(
            "every Dask resource and Pod to be gone",
            lambda: (
                not any(
                    list(kr8s.get(kind, namespace=ns, api=kube))
                    for kind in ("daskclusters", "daskworkergroups", "daskjobs", "daskautoscalers")
                )
                and not list(kr8s.get("pods", namespace=ns, api=kube))
            ),
        )
    finally:
        operator.start()


def test_close_says_what_it_waits_for_and_gives_up(
    k8s_cluster: Any,
    kube: kr8s.Api,
    ns: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`KubeCluster.close()` deletes through `delete_cluster` with upstream's default timeout of
    an hour: it must report what blocks it and give up after a sensible default instead."""
    from dask_kubernetes.operator.kubecluster import operations

    monkeypatch.setattr(operations, "DELETE_TIMEOUT", 3.0)
    monkeypatch.setattr(operations, "DELETE_REPORT_EVERY", 1.0)
    manifest = local_cluster("held", replicas=0)
    manifest["metadata"]["finalizers"] = ["example.com/hold"]  # someone else's, never removed
    cluster = make(DaskCluster, manifest, ns, kube)

    async def close() -> None:
        api = await kr8s.asyncio.api(kubeconfig=k8s_cluster.kubeconfig)
        await asyncio.wait_for(operations.delete_cluster(api, "held", ns, 3600), timeout=60)

    try:
        with pytest.raises(ResourceTimeoutError, match=r"after 3s .*example.com/hold") as raised:
            asyncio.run(close())
        assert not isinstance(raised.value, DeletionUnderWay)  # someone else's hold: a failure
        assert "example.com/hold" in caplog.text and "not deleted yet" in caplog.text
    finally:
        cluster.patch({"metadata": {"finalizers": None}})
    wait_for("the cluster to go once released", lambda: not cluster.exists())


def test_a_deletion_only_the_garbage_collector_holds_is_under_way_not_failed(
    k8s_cluster: Any, kube: kr8s.Api, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleted in the foreground, a cluster stays until its dependents have stopped (on a real
    node: its pods' graceful stop). A wait that runs out then has not failed to delete anything:
    the cluster goes on its own, and the error says so (the exit hook prints it as such)."""
    from dask_kubernetes.operator.kubecluster import operations

    monkeypatch.setattr(operations, "DELETE_TIMEOUT", 3.0)
    cluster = make(DaskCluster, local_cluster("slow", replicas=0), ns, kube)
    owner = {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskCluster",
        "name": "slow",
        "uid": cluster.metadata["uid"],
        "blockOwnerDeletion": True,
    }
    # A dependent slow to stop, as a pod in its grace period is: its finalizer holds it.
    slow = kr8s.objects.ConfigMap(
        {
            "metadata": {
                "name": "slow-to-stop",
                "namespace": ns,
                "ownerReferences": [owner],
                "finalizers": ["example.com/stopping"],
            }
        },
        api=kube,
    )
    slow.create()

    async def close() -> None:
        api = await kr8s.asyncio.api(kubeconfig=k8s_cluster.kubeconfig)
        await asyncio.wait_for(operations.delete_cluster(api, "slow", ns, 3600), timeout=60)

    try:
        with pytest.raises(DeletionUnderWay, match=r"DaskCluster slow is still being deleted"):
            asyncio.run(close())
        assert _finalizers(cluster) == ["foregroundDeletion"]
    finally:
        slow.patch({"metadata": {"finalizers": None}})
    wait_for("the cluster to go once its dependent has", lambda: not cluster.exists(), timeout=90)
