"""The API server enforces our CRD schemas: upstream manifests apply unchanged, bad ones get 422."""

from __future__ import annotations

import copy
from typing import Any

import kr8s
import pytest
from operator_examples import ALL, AUTOSCALER, JOB, SIMPLE_CLUSTER, WORKER_GROUP
from operator_helpers import DaskCluster, DaskWorkerGroup, make, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("operator_logs")]

KINDS = {
    "DaskCluster": DaskCluster,
    "DaskWorkerGroup": DaskWorkerGroup,
}


def _create(api: kr8s.Api, ns: str, manifest: dict[str, Any]) -> Any:
    from operator_helpers import DaskAutoscaler, DaskJob

    cls = {"DaskJob": DaskJob, "DaskAutoscaler": DaskAutoscaler} | KINDS
    return make(cls[manifest["kind"]], copy.deepcopy(manifest), ns, api)


@pytest.mark.slow
def test_upstream_simple_cluster_runs_unchanged(kube: kr8s.Api, ns: str) -> None:
    """Upstream's documented DaskCluster (probes, NodePort, dask-worker args) as it is."""
    cluster = _create(kube, ns, SIMPLE_CLUSTER)

    def phase() -> str:
        cluster.refresh()
        return str(cluster.raw.get("status", {}).get("phase"))

    wait_for("the upstream example to be Running", lambda: phase() == "Running", timeout=90)
    group = _create(kube, ns, WORKER_GROUP)

    def owners() -> list[Any]:
        group.refresh()
        return list(group.metadata.get("ownerReferences") or [])

    (owner,) = wait_for("the extra worker group to be adopted by its cluster", owners)
    assert owner["kind"] == "DaskCluster" and owner["name"] == "simple"


@pytest.mark.parametrize("manifest", [SIMPLE_CLUSTER, WORKER_GROUP, JOB, AUTOSCALER])
def test_upstream_manifests_are_accepted(kube: kr8s.Api, ns: str, manifest: dict[str, Any]) -> None:
    obj = _create(kube, ns, manifest)
    obj.refresh()
    assert obj.spec == {**manifest["spec"], **obj.spec}  # defaults may be added, nothing dropped


@pytest.mark.parametrize(
    ("kind", "mutate"),
    [
        ("daskcluster", lambda o: o["spec"].pop("worker")),
        ("daskcluster", lambda o: o["spec"]["worker"].update(replicas="many")),
        ("daskworkergroup", lambda o: o["spec"]["worker"]["spec"].pop("containers")),
        ("daskautoscaler", lambda o: o["spec"].update(maximum=-1)),
    ],
)
def test_invalid_resources_get_422(kube: kr8s.Api, ns: str, kind: str, mutate: Any) -> None:
    manifest = copy.deepcopy(ALL[kind])
    mutate(manifest)
    with pytest.raises(kr8s.ServerError) as raised:
        _create(kube, ns, manifest)
    assert raised.value.response is not None
    assert raised.value.response.status_code == 422
