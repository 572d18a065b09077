"""A TLS cluster's scheduler and worker, run as real `dask` processes with exactly the environment
the operator gives their Pods (Secret references resolved): only this cluster's certificates
connect, and the HTTP API answers only to the operator's token (issue #21)."""

# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from distributed import Client
from distributed.security import Security

from dask_kubernetes.operator import child_manifests as m
from dask_kubernetes.operator import dask_tls
from dask_kubernetes.operator import vocabulary as v
from dask_kubernetes.operator.scheduler_client import SchedulerClient, SchedulerUnavailable

DASK = [sys.executable, "-c", "from dask.cli import run_cli; run_cli()"]
SECRET = "c-tls-uid"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _resolve(env: list[dict[str, Any]], data: Mapping[str, str]) -> dict[str, str]:
    """What the kubelet does with the Pod's env: Secret references become the Secret's values."""
    resolved = {}
    for item in env:
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        if ref is None:
            resolved[item["name"]] = item["value"]
        else:
            assert ref["name"] == SECRET
            resolved[item["name"]] = data[ref["key"]]
    return resolved


@dataclass
class TLSScheduler:
    comm_port: int
    http_port: int
    data: dict[str, str]
    token: str

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def address(self, scheme: str) -> str:
        return f"{scheme}://127.0.0.1:{self.comm_port}"

    def client_security(self) -> Security:
        return Security(require_encryption=True, **dask_tls.client_settings(self.data))


def _decoded(secret: Mapping[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(val).decode() for key, val in secret["data"].items()}


def _cluster() -> dict[str, Any]:
    return {
        "apiVersion": v.API_VERSION,
        "kind": v.DASK_CLUSTER.kind,
        "metadata": {"name": "c", "namespace": "ns", "uid": "uid"},
        "spec": {
            v.TLS_FIELD: True,
            "scheduler": {"spec": {"containers": [{"name": "scheduler"}]}, "service": {}},
            "worker": {"spec": {"containers": [{"name": "worker"}]}},
        },
    }


def _pod_env(pod: Mapping[str, Any], data: Mapping[str, str]) -> dict[str, str]:
    return _resolve(pod["spec"]["containers"][0]["env"], data)


def _start(argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    clean = {k: val for k, val in os.environ.items() if not k.startswith("DASK_")}
    return subprocess.Popen(
        argv, env=clean | dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _get(url: str, token: str | None = None) -> int:
    headers = {v.SCHEDULER_API_TOKEN_HEADER: token} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except urllib.error.URLError:  # not listening (yet)
        return 0


@pytest.fixture(scope="module")
def tls_scheduler() -> Iterator[TLSScheduler]:
    cluster = _cluster()
    token = dask_tls.api_token(b"operator key", "ns", "c", "uid")
    secret = m.tls_secret(cluster, token)
    assert secret["metadata"]["name"] == SECRET
    data = _decoded(secret)
    env = _pod_env(m.scheduler_pod(cluster), data)
    comm, http = _free_port(), _free_port()
    argv = [*DASK, "scheduler", "--host", "127.0.0.1", "--port", str(comm)]
    process = _start([*argv, "--dashboard-address", f"127.0.0.1:{http}"], env)
    try:
        deadline = time.monotonic() + 60
        while _get(f"http://127.0.0.1:{http}/health") != 200:
            assert process.poll() is None, "the scheduler exited"
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.2)
        yield TLSScheduler(comm, http, data, token)
    finally:
        _stop(process)


def _connects(address: str, **kwargs: Any) -> bool:
    try:
        with Client(address, timeout=5, **kwargs) as client:
            client.scheduler_info()
    except (OSError, TimeoutError):
        return False
    return True


def test_only_this_clusters_client_certificate_connects(tls_scheduler: TLSScheduler) -> None:
    assert not _connects(tls_scheduler.address("tcp"))
    assert not _connects(tls_scheduler.address("tls"), security=Security.temporary())
    other = _decoded(m.tls_secret(_cluster(), "t"))  # same names, another CA
    foreign = Security(require_encryption=True, **dask_tls.client_settings(other))
    assert not _connects(tls_scheduler.address("tls"), security=foreign)
    assert _connects(tls_scheduler.address("tls"), security=tls_scheduler.client_security())


def test_the_http_api_answers_only_to_the_token(tls_scheduler: TLSScheduler) -> None:
    api = f"{tls_scheduler.http}/api/v1"
    for path in ("", "/get_workers", "/adaptive_target", "/check_idle"):
        assert _get(api + path) == 403, path
        assert _get(api + path, "not the token") == 403, path
        assert _get(api + path, tls_scheduler.token) == 200, path
    assert _get(f"{tls_scheduler.http}/health") == 200  # probes need no token


@pytest.mark.asyncio
async def test_a_worker_with_its_pod_env_joins_and_the_operator_retires_it(
    tls_scheduler: TLSScheduler,
) -> None:
    group = {
        "metadata": {"name": "c-default", "namespace": "ns"},
        "spec": {"cluster": "c", "worker": {"spec": {"containers": [{"name": "worker"}]}}},
    }
    pod = m.worker_pod(group, "ns", 0, SECRET)
    env = _pod_env(pod, tls_scheduler.data)
    assert env["DASK_SCHEDULER_ADDRESS"].startswith("tls://")
    env["DASK_SCHEDULER_ADDRESS"] = tls_scheduler.address("tls")  # no cluster DNS here
    worker = _start([*DASK, "worker", "--nworkers", "1", "--nthreads", "1"], env)
    try:
        intruder = SchedulerClient.at_url(tls_scheduler.http)
        with pytest.raises(SchedulerUnavailable, match="403"):
            await intruder.retire(n=1)
        operator = SchedulerClient.at_url(tls_scheduler.http, tls_scheduler.token)
        deadline = time.monotonic() + 60
        while not await operator.workers():
            assert worker.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, "the worker did not join"
            await asyncio.sleep(0.2)
        [retired] = await operator.retire(n=1)
        assert retired.address.startswith("tls://127.0.0.1:")  # it listens on TLS too
        assert await operator.workers() == []
    finally:
        _stop(worker)


def test_a_tls_jobs_runner_is_a_client_with_the_client_certificate() -> None:
    job = {
        "metadata": {"name": "j", "namespace": "ns"},
        "spec": {"job": {"spec": {"containers": [{"name": "job"}]}}},
    }
    env = m.job_runner_pod(job, "ns", SECRET)["spec"]["containers"][0]["env"]
    by_name = {e["name"]: e for e in env}
    assert by_name["DASK_SCHEDULER_ADDRESS"]["value"].startswith("tls://j-scheduler.ns.svc")
    cert = by_name["DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT"]["valueFrom"]["secretKeyRef"]
    assert cert == {"name": SECRET, "key": v.tls_cert_key("client")}
    plain = m.job_runner_pod(job, "ns")["spec"]["containers"][0]["env"]
    assert [e["name"] for e in plain] == ["DASK_SCHEDULER_ADDRESS"]


def test_a_tls_scheduler_serves_the_api_only_through_the_guard() -> None:
    env = m.scheduler_pod(_cluster())["spec"]["containers"][0]["env"]
    by_name = {e["name"]: e for e in env}
    assert "distributed.http.scheduler.api" not in by_name[m.SCHEDULER_ROUTES_ENV]["value"]
    assert by_name[dask_tls.PRELOAD_ENV]["value"] == dask_tls.API_GUARD_PRELOAD
    plain = _cluster()
    plain["spec"][v.TLS_FIELD] = False
    env = m.scheduler_pod(plain)["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == [m.SCHEDULER_ROUTES_ENV]  # upstream's pod, unchanged


def test_a_users_own_setting_is_kept() -> None:
    cluster = _cluster()
    container = cluster["spec"]["scheduler"]["spec"]["containers"][0]
    container["env"] = [{"name": dask_tls.REQUIRE_ENCRYPTION_ENV, "value": "False"}]
    env = m.scheduler_pod(cluster)["spec"]["containers"][0]["env"]
    assert [e for e in env if e["name"] == dask_tls.REQUIRE_ENCRYPTION_ENV] == [
        {"name": dask_tls.REQUIRE_ENCRYPTION_ENV, "value": "False"}
    ]
