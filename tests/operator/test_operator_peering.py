"""Two replicas with kopf peering: one leads, the other waits and takes over when it goes."""

from __future__ import annotations

from pathlib import Path

import kr8s
import pytest
import yaml
from kr8s.objects import Namespace, new_class
from operator_examples import local_cluster
from operator_helpers import (
    CRD,
    DaskCluster,
    DaskWorkerGroup,
    OperatorProcess,
    live,
    make,
    pods,
    wait_for,
)

from dask_kubernetes.local import LocalKubernetes
from dask_kubernetes.operator.crds import load_crds

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHART = Path(__file__).resolve().parents[2] / "charts" / "dask-kubernetes-operator"
Peering = new_class("ClusterKopfPeering", "kopf.dev/v1", namespaced=False)


def _acted(op: OperatorProcess) -> bool:
    """Only an active replica reconciles (a paused one keeps its watches paused, silently)."""
    return "worker group peer/peer-default: created" in op.logs()


def test_one_of_two_peered_replicas_is_active(tmp_path: Path) -> None:
    with LocalKubernetes() as k8s:
        api = kr8s.api(kubeconfig=k8s.kubeconfig)
        peering_file = CHART / "files" / "kopf-peering-crds.yaml"
        for manifest in [*load_crds(), *yaml.safe_load_all(peering_file.read_text())]:
            CRD(manifest, api=api).create()
        wait_for(
            "the peering resource",
            lambda: "clusterkopfpeerings" in {r["name"] for r in api.api_resources()},
        )
        Peering({"metadata": {"name": "dask-test"}}, api=api).create()
        replicas = [
            OperatorProcess(k8s.kubeconfig, tmp_path, ("--peering", "dask-test")),
            OperatorProcess(k8s.kubeconfig, tmp_path, ("--peering", "dask-test")),
        ]
        replicas[1].log_path = tmp_path / "operator-b.log"
        try:
            for op in replicas:
                op.start()
            Namespace({"metadata": {"name": "peer"}}, api=api).create()
            manifest = local_cluster("peer", replicas=2)
            manifest["spec"]["worker"]["spec"]["containers"][0]["args"] = ["sleep", "1000000"]
            make(DaskCluster, manifest, "peer", api)
            selector = {"dask.org/workergroup-name": "peer-default"}
            wait_for("2 workers", lambda: len(live(pods(api, "peer", selector))) == 2)
            leader = wait_for("the active replica", lambda: next(filter(_acted, replicas), None))
            (follower,) = [op for op in replicas if op is not leader]
            assert not _acted(follower), "both replicas reconciled: peering did not elect one"

            leader.stop()  # a graceful exit leaves the peering object at once
            group = DaskWorkerGroup.get("peer-default", namespace="peer", api=api)
            group.patch({"spec": {"worker": {"replicas": 3}}})
            wait_for("3 workers", lambda: len(live(pods(api, "peer", selector))) == 3)
            assert _acted(follower), "the follower did not take over"
        finally:
            for op in replicas:
                op.stop()
