"""A custom resource cannot steer the operator out of its namespace or to another host (issue 11).

The attack: a DaskAutoscaler whose `spec.cluster` holds `../` segments and a host name made the
operator PATCH a DaskWorkerGroup in another namespace and ask a foreign host for its "adaptive
target". The API server now refuses such names (422); objects stored before that (or under a
looser CRD) are refused by the operator itself: an InvalidSpec Event, and no request built on them.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kr8s
import operator_examples as examples
import pytest
from operator_helpers import (
    DaskAutoscaler,
    DaskCluster,
    DaskJob,
    DaskWorkerGroup,
    OperatorProcess,
    crds_without_name_rules,
    make,
    wait_for,
)

from dask_kubernetes.operator.rest import USER_AGENT
from dask_kubernetes.operator.scheduler_client import ACCESS_ENV

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("operator_logs")]

#: Names the API server must refuse wherever a Dask resource names an object.
STEERING = ["../../victim/x", "..%2F..%2Fvictim", "%2e%2e", "a.b", "a:b", "a/b", "x" * 300]


def _group(name: str, cluster: str, replicas: int = 1) -> dict[str, Any]:
    group = copy.deepcopy(examples.WORKER_GROUP)
    group["metadata"] = {"name": name}
    group["spec"]["cluster"] = cluster
    group["spec"]["worker"]["replicas"] = replicas
    return group


def _autoscaler(name: str, cluster: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskAutoscaler",
        "metadata": {"name": name},
        "spec": {"cluster": cluster, "minimum": 0, "maximum": 10},
    }


def _named(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    manifest = copy.deepcopy(manifest)
    manifest["metadata"] = {"name": name}
    return manifest


@pytest.mark.parametrize("bad", STEERING)
def test_the_api_server_refuses_steering_names(
    kube: kr8s.Api, dask_crds: None, k8s_namespace: str, bad: str
) -> None:
    attempts: list[tuple[type[Any], dict[str, Any]]] = [
        (DaskWorkerGroup, _group("g", bad)),
        (DaskAutoscaler, _autoscaler("a", bad)),
        (DaskCluster, _named(examples.SIMPLE_CLUSTER, bad)),
        (DaskJob, _named(examples.JOB, bad)),
        (DaskWorkerGroup, _group(bad, "simple")),
    ]
    for cls, manifest in attempts:
        with pytest.raises(kr8s.ServerError) as refused:
            make(cls, manifest, k8s_namespace, kube)
        assert refused.value.response is not None
        assert refused.value.response.status_code == 422, (cls.kind, manifest["metadata"])
    for kind in ("daskworkergroups", "daskautoscalers", "daskclusters", "daskjobs"):
        assert not list(kr8s.get(kind, namespace=k8s_namespace, api=kube)), kind


class _Trap:
    """An HTTP server on 127.0.0.1 standing for "another host": it records every request and
    answers like a scheduler that wants 7 workers (so a steered autoscaler would act)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                trap.requests.append(self.path)
                body = json.dumps({"workers": 7, "idle_since": None}).encode()
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def trap() -> Iterator[_Trap]:
    server = _Trap()
    try:
        yield server
    finally:
        server.close()


def _refused(kube: kr8s.Api, namespace: str) -> set[str]:
    return {
        e.raw["involvedObject"]["name"]
        for e in kr8s.get("events", namespace=namespace, api=kube)
        if e.raw.get("reason") == "InvalidSpec"
    }


@pytest.mark.parametrize("access", ["direct", "proxy"])
def test_objects_stored_before_the_rule_cannot_steer_the_operator(
    k8s_cluster: Any,
    kube: kr8s.Api,
    operator: OperatorProcess,
    make_namespace: Callable[[Any], str],
    trap: _Trap,
    tmp_path: Path,
    access: str,
) -> None:
    audit = k8s_cluster.require_api_server().audit
    ns, victim = make_namespace(k8s_cluster), make_namespace(k8s_cluster)
    make(DaskWorkerGroup, _group("victim-default", "victim"), victim, kube)
    host = f"127.0.0.1:{trap.port}"
    autoscalers = {
        "steer-host": f"{host}/../../../{victim}/daskworkergroups/victim",
        "steer-encoded": f"..%2F..%2F{victim}%2Fdaskworkergroups%2Fvictim",
        "steer-dot": "a.b",
        "steer-colon": "a:b",
        "steer-long": "x" * 300,
    }
    groups = {
        "steer-adopt": f"../../{victim}/daskclusters/lure",  # _adopt GETs its cluster
        "steer-slash": "a/b",
    }
    operator.stop()  # the objects are stored while no operator runs, as after an upgrade
    steered_operator = OperatorProcess(k8s_cluster.kubeconfig, tmp_path, env={ACCESS_ENV: access})
    try:
        with crds_without_name_rules(kube):
            for name, cluster in autoscalers.items():
                make(DaskAutoscaler, _autoscaler(name, cluster), ns, kube)
            for name, cluster in groups.items():
                make(DaskWorkerGroup, _group(name, cluster), ns, kube)
            make(DaskWorkerGroup, _group("dotted.group", "victim"), ns, kube)
        start = len(audit)
        steered_operator.start()
        expected = {*autoscalers, *groups, "dotted.group"}
        wait_for("an InvalidSpec Event for each", lambda: _refused(kube, ns) >= expected)
        time.sleep(3)  # a measurement window (three autoscaler ticks), not a synchronisation
    finally:
        steered_operator.stop()
        print(steered_operator.logs()[-20000:])
        operator.start()

    # Our client's requests: kopf's own only ever patch the object its watch delivered.
    records = [r for r in audit[start:] if r.user_agent.startswith(USER_AGENT)]
    assert records, "the audit saw none of the operator's own requests"
    assert trap.requests == [], "the operator called a host other than its own schedulers"
    steered = [
        f"{r.verb} {r.namespace}/{r.rbac_resource}/{r.name}"
        for r in records
        if r.namespace == victim
        and (r.name == "lure" or r.subresource == "proxy" or r.rbac_resource == "daskworkergroups")
    ]
    assert steered == [], "requests steered into another namespace"
    proxied = [r.name for r in records if r.subresource == "proxy"]
    assert proxied == [], "a scheduler proxied for a refused object"
    group = DaskWorkerGroup.get("victim-default", namespace=victim, api=kube)
    assert group.spec["worker"]["replicas"] == 1
