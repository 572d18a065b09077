"""DaskWorkerGroup 0 -> N workers on the local stand-in: our operator vs upstream 2026.3.0's.

Measures the time from the scale request until N worker Pods exist, and the API requests each
operator made meanwhile (from the API server's audit log, by user agent). Workers run `sleep`, so
the machine's CPU goes to the operators and the API server, not to Dask.

`--control-plane emulated` (default): our API server emulator (plain HTTP, its own audit);
`real`: `LocalKubernetes(control_plane="real")` (root, built binaries), kube-apiserver's audit
log; the real scheduler binds the Pods and the real controller manager turns upstream's
Deployments into Pods. `both` runs the two planes one after the other. Both operators run with
the admin's kubeconfig here: the bench is about requests and time, not permissions.

`--node containers` (real plane only, root): the real kubelet with containerd and runc
(`local/containernode/`); every scheduler and worker Pod, ours and upstream's, runs `sleep` in a
container of our Dask image (built from HEAD by the test session's function, or `--images DIR`).
Both operators still run as host processes against the plane, alike: upstream's operator image
is on ghcr.io, which this machine cannot reach (and ours as a host process keeps them equal).
Between the two, the bench waits for the first side's Pods (and so its containers) to be gone,
so one side's teardown does not load the other's window.

    python -m venv bench/.venvs/upstream
    bench/.venvs/upstream/bin/pip install dask-kubernetes==2026.3.0
    .venv/bin/python bench/bench_operator.py [--workers 200] [--control-plane both]
    .venv/bin/python bench/bench_operator.py --control-plane real --node containers --workers 100
"""

from __future__ import annotations

import argparse
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _node import NODES, Node, check_plane, prepare

from dask_kubernetes.local import LocalKubernetes
from dask_kubernetes.local.apimachinery.audit import AuditRecord
from dask_kubernetes.local.controlplane import audit as real_audit
from dask_kubernetes.operator.crds import load_crds

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_PYTHON = ROOT / "bench" / ".venvs" / "upstream" / "bin" / "python"
RESULTS = ROOT / "bench" / "results"  # gitignored: the operators' logs
GROUP = "/apis/kubernetes.dask.org/v1"
SLEEPER = {"name": "w", "image": "none", "args": ["sleep", "1000000"]}


@dataclass
class Contender:
    name: str
    argv: list[str]
    agents: tuple[str, ...]
    cwd: Path


@dataclass
class Result:
    name: str
    seconds: float
    requests: int
    workers: int  # worker pods that came to exist
    note: str = ""
    breakdown: str = ""  # requests by verb and resource, most frequent first
    idle_requests: int = 0  # requests while nothing changed, after the scale-up settled
    idle_seconds: float = 0.0


def _contenders() -> list[Contender]:
    ours = Contender(
        "ours",
        [sys.executable, "-m", "dask_kubernetes.operator", "--all-namespaces", "--standalone"],
        ("kopf/", "dask-kubernetes-operator/"),
        ROOT,
    )
    upstream = Contender(
        "upstream 2026.3.0",
        [
            str(UPSTREAM_PYTHON),
            "-m",
            "kopf",
            "run",
            "--all-namespaces",
            "--standalone",
            "-m",
            "dask_kubernetes.operator.controller",
        ],
        ("kopf/", "kr8s/"),
        Path(tempfile.gettempdir()),  # away from our source tree: upstream imports its own
    )
    return [ours, upstream] if UPSTREAM_PYTHON.exists() else [ours]


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(what)


def _cluster(name: str, image: str | None) -> dict[str, Any]:
    container = SLEEPER if image is None else SLEEPER | {"image": image}
    # `sleep` as PID 1 ignores SIGTERM: a short grace keeps teardown from idling 30 s per pod.
    pod = {"containers": [container], "terminationGracePeriodSeconds": 1}
    return {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskCluster",
        "metadata": {"name": name},
        "spec": {
            "worker": {"replicas": 0, "spec": pod},
            "scheduler": {
                "spec": pod,
                "service": {
                    "type": "ClusterIP",
                    "selector": {
                        "dask.org/cluster-name": name,
                        "dask.org/component": "scheduler",
                    },
                    "ports": [{"name": "tcp-comm", "port": 8786, "targetPort": 8786}],
                },
            },
        },
    }


def _worker_pods(http: httpx.Client, ns: str, group: str) -> int:
    selector = f"dask.org/workergroup-name={group}"
    items = http.get(f"/api/v1/namespaces/{ns}/pods", params={"labelSelector": selector})
    return sum(1 for p in items.json()["items"] if not p["metadata"].get("deletionTimestamp"))


def _run_one(
    k8s: LocalKubernetes,
    http: httpx.Client,
    who: Contender,
    workers: int,
    idle: float,
    image: str | None,
) -> Result:
    ns = "bench-" + who.name.split()[0]
    http.post("/api/v1/namespaces", json={"metadata": {"name": ns}}).raise_for_status()
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = (RESULTS / f"operator-{ns}.log").open("wb")  # closed in `finally`
    env = dict(os.environ) | {"KUBECONFIG": k8s.kubeconfig, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(who.argv, env=env, cwd=who.cwd, stdout=log, stderr=subprocess.STDOUT)
    try:
        http.post(
            f"{GROUP}/namespaces/{ns}/daskclusters", json=_cluster("b", image)
        ).raise_for_status()
        group_url = f"{GROUP}/namespaces/{ns}/daskworkergroups/b-default"
        _wait("the default worker group", lambda: http.get(group_url).status_code == 200, 120)
        time.sleep(2)  # let creation handlers settle before the measured window
        first = len(_audit(k8s))
        start = time.monotonic()
        http.patch(
            group_url,
            json={"spec": {"worker": {"replicas": workers}}},
            headers={"Content-Type": "application/merge-patch+json"},
        ).raise_for_status()
        note, created = "", workers
        try:
            _wait(
                f"{workers} worker pods",
                lambda: _worker_pods(http, ns, "b-default") >= workers,
                timeout=600,
            )
        except TimeoutError:
            created = _worker_pods(http, ns, "b-default")
            note = f"gave up: only {created} of {workers} pods after 600 s"
        seconds = time.monotonic() - start
        everything = [r for r in _audit(k8s)[first:] if r.user_agent.startswith(who.agents)]
        # Resource requests only: the emulator's audit has no others, so the planes compare.
        mine = [r for r in everything if r.resource]
        kinds = Counter(f"{r.verb} {r.rbac_resource}" for r in mine)
        breakdown = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        if len(everything) > len(mine):
            breakdown += f"; not counted: {len(everything) - len(mine)} non-resource requests"
        # Steady state: what the operator costs the API server when nothing changes.
        time.sleep(10)  # let the scale-up's status patches land before the idle window
        idle_first = len(_audit(k8s))
        time.sleep(idle)
        idle_records = _audit(k8s)[idle_first:]
        idle_requests = sum(1 for r in idle_records if r.user_agent.startswith(who.agents))
        return Result(
            who.name, seconds, len(mine), max(created, 1), note, breakdown, idle_requests, idle
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        http.delete(f"/api/v1/namespaces/{ns}")
        _await_gone(http, ns)


def _await_gone(http: httpx.Client, ns: str, timeout: float = 300) -> None:
    """The namespace's Pods gone (on the container node, their containers stopped), so the next
    side's window does not share the machine with this side's teardown. Not the namespace
    itself: upstream's DaskCluster keeps kopf's finalizer once its operator has stopped."""
    url = f"/api/v1/namespaces/{ns}/pods"
    try:
        _wait(f"{ns}'s pods gone", lambda: not http.get(url).json().get("items"), timeout)
    except TimeoutError:
        print(f"note: pods in {ns} still there after {timeout:.0f} s", flush=True)


def _audit(k8s: LocalKubernetes) -> list[AuditRecord]:
    """Every request so far, oldest first (a record's index never changes)."""
    if k8s.api_server is not None:
        return list(k8s.api_server.audit)
    assert k8s.real is not None and k8s.real.plane is not None
    return real_audit.read(k8s.real.plane.audit_log)


def _http(k8s: LocalKubernetes) -> httpx.Client:
    """The admin's client: the emulator's token, or the real plane's admin certificate."""
    headers = {"User-Agent": "bench/1"}
    if k8s.api_server is not None:
        headers["Authorization"] = f"Bearer {k8s.api_server.admin_token}"
        return httpx.Client(base_url=k8s.url, headers=headers, timeout=60)
    real = k8s.real
    assert real is not None and real.admin is not None and real.plane is not None
    tls = ssl.create_default_context(cafile=str(real.plane.ca_cert))
    tls.load_cert_chain(real.admin.cert, real.admin.key)
    return httpx.Client(base_url=k8s.url, headers=headers, verify=tls, timeout=60)


def _stand_in(plane: str, node: Node) -> LocalKubernetes:
    if plane == "real":
        return LocalKubernetes(control_plane="real", audit=True, **node.options)
    return LocalKubernetes(tls=False)  # plain HTTP, as earlier results were measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument(
        "--idle", type=float, default=30.0, help="seconds of steady state to count requests in"
    )
    parser.add_argument("--control-plane", choices=("emulated", "real", "both"), default="emulated")
    parser.add_argument(
        "--node", choices=NODES, default="processes", help="containers: real plane only, root"
    )
    parser.add_argument(
        "--images", type=Path, help="with --node containers: a directory of *.oci.tar + images.json"
    )
    args = parser.parse_args()
    check_plane(args.node, args.control_plane)
    node = prepare(args.node, args.images)
    planes = ("emulated", "real") if args.control_plane == "both" else (args.control_plane,)
    print(
        f"cpus={os.cpu_count()} load={' '.join(f'{x:.1f}' for x in os.getloadavg())} "
        f"workers={args.workers} node={node.describe()}",
        flush=True,
    )
    for plane in planes:
        _bench_plane(plane, args.workers, args.idle, node)
    print(f"load at the end={' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


def _bench_plane(plane: str, workers: int, idle: float, node: Node) -> None:
    results = []
    started = time.monotonic()
    with _stand_in(plane, node) as k8s, _http(k8s) as http:
        print(f"[{plane}] plane ready in {time.monotonic() - started:.1f} s", flush=True)
        for crd in load_crds():
            http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd)
        served = f"{GROUP}/daskclusters"
        _wait("the Dask CRDs to be served", lambda: http.get(served).status_code == 200, 60)
        for who in _contenders():
            result = _run_one(k8s, http, who, workers, idle, node.dask_image)
            print(f"[{plane}] load after {who.name}: {os.getloadavg()[0]:.1f}", flush=True)
            results.append(result)
            print(
                f"[{plane}] {result.name:>18}: {result.seconds:7.2f} s to {result.workers} "
                "worker pods, "
                f"{result.requests} API requests ({result.requests / result.workers:.3f}/worker)"
                + (f"  [{result.note}]" if result.note else ""),
                flush=True,
            )
            print(f"{'':>20}{result.breakdown}", flush=True)
            print(
                f"{'':>20}idle: {result.idle_requests} API requests in {result.idle_seconds:.0f} s",
                flush=True,
            )
    if len(results) == 2:
        ours, theirs = results
        print(
            f"[{plane}] time ratio ours/upstream: {ours.seconds / theirs.seconds:.2f}; "
            "requests per worker ours/upstream: "
            f"{(ours.requests / ours.workers) / (theirs.requests / theirs.workers):.3f}"
        )
    else:
        print(f"[{plane}] upstream venv missing ({UPSTREAM_PYTHON}); ran ours only")


if __name__ == "__main__":
    raise SystemExit(main())
