"""Issue #21: another local user must get nothing from a cluster's scheduler.

Pods and Services listen on addresses every local user reaches (127.x on the stand-in; inside
the plane's network namespace on the real one), and a Dask scheduler runs whatever a connected
client sends. The attacker here is a process running as `nobody`, where Pod addresses are
reachable: it tries the scheduler's Pod address and ClusterIP over `tcp://`, over `tls://` with a
certificate of its own, with a bare TLS handshake, and the HTTP API the operator uses to retire
workers; and a worker's own comm port the same three ways (a worker's `run` handler runs what a
peer sends). It must get nothing, while the owner's KubeCluster computes.
"""

# mypy: disable-error-code="no-untyped-call"
# (distributed.Client is unannotated.)
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from typing import Any

import kr8s
import pytest
from distributed import Client
from e2e_helpers import kube_cluster, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(400)]

NOBODY = 65534
#: Exceptions that mean the attack script is broken, not that the attempt was refused.
SCRIPT_ERRORS = {"NameError", "TypeError", "AttributeError", "ImportError", "KeyError"}
SCRIPT_ERRORS |= {"ModuleNotFoundError", "UnboundLocalError", "PicklingError"}

#: Run as `nobody` with the scheduler's addresses as argv; prints what each attempt got.
ATTACK = textwrap.dedent(
    """
    import json, os, socket, ssl, sys, threading, urllib.request
    from distributed import Client
    from distributed.security import Security

    def attempt(what, fn):
        # What `fn` got; a silence of 30 s counts as nothing (the stand-in's Service proxy
        # half-closes, so a refused tcp:// handshake through a ClusterIP may never end).
        outcome = {what: "refused: no answer within 30 s"}

        def run():
            try:
                outcome[what] = "GOT " + repr(fn())
            except BaseException as exc:
                outcome[what] = "refused: " + type(exc).__name__

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(30)
        return dict(outcome)

    def client_run(address, **kwargs):
        with Client(address, timeout=8, **kwargs) as client:
            return client.run(os.getuid)

    def bare_tls(host, port=8786):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection((host, port), timeout=8) as raw:
            with context.wrap_socket(raw) as tls:
                tls.sendall(b"\\x00" * 64)
                data = tls.recv(1024)
                if not data:
                    raise ConnectionError("closed")
                return data

    def http(host, method, path, body=None):
        request = urllib.request.Request(
            f"http://{host}:8787{path}", data=body, method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=8) as response:
            return response.status, response.read()[:200]

    def worker_run(address, **kwargs):
        # Straight to a worker's own comm port: its `run` handler runs a pickled function.
        import asyncio, pickle
        from distributed.core import rpc

        async def go():
            async with rpc(address, timeout=8, **kwargs) as worker:
                return await worker.run(function=pickle.dumps(os.getuid))

        return asyncio.run(go())

    results = {}
    for worker in [a for a in sys.argv[1:] if ":" in a]:
        host, port = worker.rsplit(":", 1)
        results.update(attempt(f"worker tcp {worker}", lambda: worker_run(f"tcp://{worker}")))
        own_args = Security.temporary().get_connection_args("client")
        results.update(
            attempt(
                f"worker tls own cert {worker}",
                lambda: worker_run(f"tls://{worker}", connection_args=own_args),
            )
        )
        results.update(attempt(f"worker tls no cert {worker}", lambda: bare_tls(host, int(port))))
    for host in [a for a in sys.argv[1:] if ":" not in a]:
        results.update(attempt(f"tcp {host}", lambda: client_run(f"tcp://{host}:8786")))
        own = Security.temporary()  # a certificate, but from a CA of the attacker's
        results.update(
            attempt(f"tls own cert {host}", lambda: client_run(f"tls://{host}:8786", security=own))
        )
        results.update(attempt(f"tls no cert {host}", lambda: bare_tls(host)))
        workers = lambda: http(host, "GET", "/api/v1/get_workers")
        results.update(attempt(f"http workers {host}", workers))
        results.update(
            attempt(
                f"http retire {host}",
                lambda: http(host, "POST", "/api/v1/retire_workers", b'{"n": 1}'),
            )
        )
    print(json.dumps(results), flush=True)
    os._exit(0)  # a hung attempt's thread must not keep the attacker alive
    """
)


def _attacker_prefix(operator_cluster: Any) -> list[str]:
    """Run where Pod addresses are reachable: the host (stand-in), or the real plane's network
    namespace, as `nobody`."""
    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("running the attacker as nobody needs root and setpriv")
    prefix: list[str] = []
    real = getattr(operator_cluster.stand_in, "real", None)
    if operator_cluster.plane == "real":
        assert real is not None and real.namespace is not None
        prefix = list(real.namespace.exec_prefix())
    return [
        *prefix,
        "setpriv",
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        "env",
        "HOME=/tmp",
        "DASK_TEMPORARY_DIRECTORY=/tmp",
    ]


def _attack(operator_cluster: Any, hosts: list[str]) -> dict[str, str]:
    result = subprocess.run(
        [*_attacker_prefix(operator_cluster), sys.executable, "-c", ATTACK, *hosts],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answers: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    return answers


def test_a_local_user_gets_nothing_from_the_scheduler_while_the_owner_computes(
    operator_cluster: Any, namespace: str
) -> None:
    if operator_cluster.stand_in is None:
        pytest.skip("needs a local plane: the attacker must run beside the Pods")
    with kube_cluster("guarded", namespace, n_workers=1) as cluster:
        api = kr8s.api(kubeconfig=operator_cluster.kubeconfig)
        [pod] = api.get(
            "pods",
            namespace=namespace,
            label_selector="dask.org/cluster-name=guarded,dask.org/component=scheduler",
            raw=True,
        )
        [service] = api.get("services", "guarded-scheduler", namespace=namespace, raw=True)
        hosts = [pod["status"]["podIP"], service["spec"]["clusterIP"]]
        with Client(cluster) as client:
            client.wait_for_workers(1, timeout=120)
            assert client.submit(lambda x: x + 1, 41).result(timeout=60) == 42

            # A worker's own comm port too ("host:port"): it runs what its peers send.
            workers = [a.split("://", 1)[1] for a in client.scheduler_info()["workers"]]
            assert len(workers) == 1 and workers[0].rsplit(":", 1)[0] not in hosts, workers
            answers = _attack(operator_cluster, [*hosts, *workers])
            assert len(answers) == 5 * len(hosts) + 3 * len(workers), answers
            got = {what: answer for what, answer in answers.items() if "refused" not in answer}
            assert got == {}, f"the attacker got: {got}"
            # Refused by the network, TLS or HTTP, not by a bug of the attack script.
            slips = {w: a for w, a in answers.items() if a.split(": ", 1)[1] in SCRIPT_ERRORS}
            assert slips == {}, slips

            # The refused retire left the worker alone, and the owner still computes.
            assert len(client.scheduler_info()["workers"]) == 1
            assert client.submit(lambda x: x * 2, 21).result(timeout=60) == 42
        assert cluster.scheduler_address.startswith("tls://")


def test_the_operator_still_retires_workers_of_a_tls_cluster(
    operator_cluster: Any, namespace: str
) -> None:
    """The HTTP API is closed to others, not to the operator: scaling down goes through it."""
    with (
        kube_cluster("shrinks", namespace, n_workers=2) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(2, timeout=120)
        cluster.scale(1)
        wait_until(lambda: len(client.scheduler_info()["workers"]) == 1, 120, "a worker to retire")
        assert client.submit(lambda: "still here").result(timeout=60) == "still here"
