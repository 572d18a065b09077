"""Dask-Gateway on our operator vs dask-gateway-server's own local backend, side by side.

Why: what a platform's user waits for through a gateway is `new_cluster()` until a client is
connected to 4 workers and has a result, and what scaling down costs. Both sides are driven by
the same real `dask_gateway` client from this process, one after the other in one run:

- ours: `dask_kubernetes.gateway.backend.OperatorBackend` behind dask-gateway-server, on
  `LocalKubernetes(operator=True)` (the stand-in): each cluster a DaskCluster that our operator
  turns into pods (processes of this Python). The stand-in only: on the real plane the pods'
  addresses exist inside its network namespace, which a gateway on this host cannot reach;
- peer: dask-gateway-server 2026.3.0's local backend, processes started directly by the gateway,
  with its commands fixed to `dask scheduler` / `dask worker` (its defaults, `dask-scheduler` /
  `dask-worker`, were removed from distributed). `LocalBackend` itself cannot start a cluster in
  2026.3.0 (`setup_working_directory` extends its list of paths with the *characters* of the key
  file paths, then chowns them: FileNotFoundError 't'), so the peer is its subclass
  `UnsafeLocalBackend`: the same process launching without the per-user setuid/chown.

Measured, per side: `new_cluster()` + `scale(4)` until the client sees 4 workers and
`client.submit(sum, range(10))` returns 45; then `scale(1)` until the scheduler has 1 worker.
Both use simple (basic) authentication and TLS between client, scheduler and workers.
Run: .venv/bin/python bench/bench_gateway.py [--repeat 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKERS = 4
TIMEOUT = 300.0

PEER_CONFIG = """
c.DaskGateway.backend_class = "dask_gateway_server.backends.local.UnsafeLocalBackend"
c.DaskGateway.address = "127.0.0.1:{api_port}"
c.Proxy.address = "127.0.0.1:{proxy_port}"
c.DaskGateway.authenticator_class = "dask_gateway_server.auth.SimpleAuthenticator"
c.SimpleAuthenticator.password = {password!r}
c.LocalBackend.clusters_directory = {clusters!r}
c.LocalClusterConfig.scheduler_cmd = ["dask", "scheduler"]
c.LocalClusterConfig.worker_cmd = ["dask", "worker"]
c.LocalClusterConfig.worker_cores = 1
c.LocalClusterConfig.worker_memory = "1 G"
c.LocalClusterConfig.scheduler_memory = "1 G"
"""


@dataclass
class Endpoint:
    """What `dask_gateway.Gateway(...)` needs to reach one side."""

    address: str
    proxy_address: str | None
    user: str
    password: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def await_health(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"no answer from {url} after {timeout:.0f}s")
        time.sleep(0.1)


def forget_loop(gateway: Any) -> None:
    """dask-gateway 2026.3.0 on distributed 2026.8: a closed sync Gateway's `__del__` closes it
    again and raises (its LoopRunner is stopped); drop the runner so `__del__` does nothing."""
    with contextlib.suppress(AttributeError):
        del gateway._loop_runner


def measure(endpoint: Endpoint) -> dict[str, float]:
    """The two timings, through the real dask_gateway client."""
    from dask_gateway import BasicAuth, Gateway

    auth = BasicAuth(endpoint.user, endpoint.password)
    gateway = Gateway(endpoint.address, proxy_address=endpoint.proxy_address, auth=auth)
    try:
        started = time.perf_counter()
        cluster = gateway.new_cluster()
        try:
            cluster.scale(WORKERS)
            with cluster.get_client(set_as_default=False) as client:
                client.wait_for_workers(WORKERS, timeout=TIMEOUT)
                result = client.submit(sum, range(10)).result(timeout=TIMEOUT)
                created = time.perf_counter() - started
                if result != 45:
                    raise SystemExit(f"wrong result {result!r}")
                started = time.perf_counter()
                cluster.scale(1)
                deadline = time.monotonic() + TIMEOUT
                while len(client.scheduler_info(n_workers=-1)["workers"]) != 1:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"still not 1 worker after {TIMEOUT:.0f}s")
                    time.sleep(0.02)
                scaled = time.perf_counter() - started
        finally:
            cluster.shutdown()
            forget_loop(cluster.gateway)
    finally:
        gateway.close()
        forget_loop(gateway)
    return {"create_4": created, "scale_4_to_1": scaled}


@contextlib.contextmanager
def peer_gateway() -> Iterator[Endpoint]:
    """dask-gateway-server with its local backend, as a process of its own."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-gateway-peer-"))
    api_port, proxy_port = free_port(), free_port()
    password = secrets.token_urlsafe(16)
    config = scratch / "dask_gateway_config.py"
    clusters = scratch / "clusters"
    config.write_text(
        PEER_CONFIG.format(
            api_port=api_port, proxy_port=proxy_port, password=password, clusters=str(clusters)
        )
    )
    # Its scheduler and worker processes find `dask` on PATH: this environment's.
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    log = (scratch / "gateway.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "dask-gateway-server"), "-f", str(config)],
        cwd=scratch,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        await_health(f"http://127.0.0.1:{proxy_port}/api/health")
        yield Endpoint(f"http://127.0.0.1:{proxy_port}", None, "bench", password)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(scratch, ignore_errors=True)


def run_peer() -> dict[str, float]:
    started = time.perf_counter()
    with peer_gateway() as endpoint:
        ready = time.perf_counter() - started
        return measure(endpoint) | {"ready": ready}


@contextlib.contextmanager
def our_gateway(kubeconfig: str, state_dir: Path) -> Iterator[Endpoint]:
    """`dask_kubernetes.gateway.local.local_gateway` (what `dask kubernetes local --gateway`
    runs), its async context driven from a loop thread of its own."""
    from dask_kubernetes.gateway.local import local_gateway

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bench-gateway", daemon=True)
    thread.start()
    context = local_gateway(kubeconfig, state_dir, namespace="default")
    try:
        running = asyncio.run_coroutine_threadsafe(context.__aenter__(), loop).result(TIMEOUT)
        try:
            yield Endpoint(running.address, None, "bench", running.password)
        finally:
            done = context.__aexit__(None, None, None)
            asyncio.run_coroutine_threadsafe(done, loop).result(TIMEOUT)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)
        loop.close()


def run_ours() -> dict[str, float]:
    from dask_kubernetes.local import LocalKubernetes

    started = time.perf_counter()
    with (
        LocalKubernetes(operator=True) as k8s,
        our_gateway(k8s.kubeconfig, Path(k8s.state_dir) / "gateway") as endpoint,
    ):
        ready = time.perf_counter() - started
        return measure(endpoint) | {"ready": ready}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("dask-gateway-server", path=str(BIN)) is None:
        raise SystemExit(f"dask-gateway-server is not installed in {BIN.parent}")
    if importlib.util.find_spec("sqlalchemy") is None:
        raise SystemExit(
            "the local backend needs sqlalchemy (dask-gateway-server[local]): "
            f"{BIN / 'python'} -m pip install sqlalchemy"
        )
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} workers={WORKERS}")
    rows: dict[str, list[dict[str, float]]] = {"ours": [], "local backend": []}
    for _ in range(args.repeat):
        rows["ours"].append(run_ours())
        rows["local backend"].append(run_peer())
    best = {side: {k: min(r[k] for r in runs) for k in runs[0]} for side, runs in rows.items()}
    print(f"{'':>14} {'ready':>8} {'new_cluster -> 4 workers -> result':>36} {'scale 4 -> 1':>13}")
    for side, times in best.items():
        print(
            f"{side:>14} {times['ready']:>7.2f}s {times['create_4']:>35.2f}s "
            f"{times['scale_4_to_1']:>12.2f}s"
        )
    for key in ("create_4", "scale_4_to_1"):
        ratio = best["ours"][key] / best["local backend"][key]
        print(f"ratio {key}: ours / local backend = {ratio:.2f}x")


if __name__ == "__main__":
    main()
