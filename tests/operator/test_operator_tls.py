"""A DaskCluster with `spec.tls` on the stand-in (issue #21): the operator issues its Secret,
its Pods take their certificates from it, only its client certificate connects, the operator
still retires workers through the guarded HTTP API, and the Secret goes with the cluster."""

# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import base64
from typing import Any

import kr8s
import pytest
from distributed import Client
from distributed.security import Security
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

from dask_kubernetes.operator import dask_tls
from dask_kubernetes.operator import vocabulary as v

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("operator_logs")]


def _secret(kube: kr8s.Api, ns: str, name: str) -> Any:
    found = list(kr8s.get("secrets", name, namespace=ns, api=kube))
    return found[0] if found else None


def _connects(address: str, security: Security | None = None) -> bool:
    try:
        with Client(address, timeout=5, security=security) as client:
            return bool(client.scheduler_info())
    except (OSError, TimeoutError):
        return False


def test_a_tls_cluster_runs_on_its_own_certificates(
    kube: kr8s.Api, k8s_cluster: Any, ns: str
) -> None:
    manifest = local_cluster("sealed", replicas=2)
    manifest["spec"][v.TLS_FIELD] = True
    cluster = make(DaskCluster, manifest, ns, kube)
    name = v.tls_secret_name("sealed", cluster.metadata["uid"])
    secret = wait_for("the TLS Secret", lambda: _secret(kube, ns, name))
    [owner] = secret.metadata["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("DaskCluster", cluster.metadata["uid"])
    data = {k: base64.b64decode(val).decode() for k, val in secret.raw["data"].items()}
    assert set(data) == {v.TLS_CA_KEY, v.TLS_API_TOKEN_KEY} | {
        key(role) for role in v.TLS_ROLES for key in (v.tls_cert_key, v.tls_private_key_key)
    }

    selector = {"dask.org/workergroup-name": "sealed-default"}
    wait_for("2 workers", lambda: len(live(pods(kube, ns, selector))) == 2 or None)
    for pod in live(pods(kube, ns, selector)):
        env = {e["name"]: e for e in pod.spec["containers"][0]["env"]}
        address = env["DASK_SCHEDULER_ADDRESS"]["value"]
        assert address == f"tls://sealed-scheduler.{ns}.svc.cluster.local:8786"
        key = env[dask_tls.CA_FILE_ENV]["valueFrom"]["secretKeyRef"]
        assert key == {"name": name, "key": v.TLS_CA_KEY}  # a reference, not the PEM itself

    security = Security(require_encryption=True, **dask_tls.client_settings(data))
    with (
        scheduler_address(k8s_cluster, kube, ns, "sealed", scheme="tls") as address,
        Client(address, timeout=30, security=security) as client,
    ):
        assert not _connects(address.replace("tls://", "tcp://", 1))
        client.wait_for_workers(2, timeout=60)
        assert client.submit(lambda x: x + 1, 1).result(timeout=30) == 2

        # Scaling down goes through the scheduler's API, with the operator's token.
        group = DaskWorkerGroup.get("sealed-default", namespace=ns, api=kube)
        group.patch({"spec": {"worker": {"replicas": 1}}})
        wait_for("a worker retired", lambda: len(client.scheduler_info()["workers"]) == 1)
        wait_for("1 worker pod", lambda: len(live(pods(kube, ns, selector))) == 1 or None)

    cluster.delete(propagation_policy="Foreground")
    wait_for("the Secret collected", lambda: _secret(kube, ns, name) is None, timeout=90)


def test_a_cluster_without_the_field_stays_on_tcp(kube: kr8s.Api, ns: str) -> None:
    """Upstream's manifests have no `spec.tls`: they get what upstream gives (see README)."""
    cluster = make(DaskCluster, local_cluster("plain"), ns, kube)
    assert cluster.spec.get(v.TLS_FIELD) is False  # the CRD's default, written on create
    selector = {"dask.org/workergroup-name": "plain-default"}
    [worker] = wait_for("a worker", lambda: live(pods(kube, ns, selector)) or None)
    env = {e["name"]: e.get("value") for e in worker.spec["containers"][0]["env"]}
    assert env["DASK_SCHEDULER_ADDRESS"].startswith("tcp://")
    assert dask_tls.CA_FILE_ENV not in env
