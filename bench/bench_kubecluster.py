"""KubeCluster start-up and scale-up on the stand-in: ours vs upstream dask-kubernetes 2026.3.0.

Why: creating a cluster and growing it is what a data scientist waits for. Each side runs its own
KubeCluster with its own operator against a fresh stand-in, in its own virtual environment:

- ours: `.venv`, `LocalKubernetes(operator=True)`;
- upstream: `bench/.venvs/upstream` (`pip install dask-kubernetes==2026.3.0 distributed==<ours>`),
  its CRDs and its operator (`kopf run -m dask_kubernetes.operator.controller`). Upstream's
  operator makes one Deployment per worker; the stand-in runs them (Deployment -> ReplicaSet ->
  Pod) as kube-controller-manager would.

Measured: `KubeCluster(n_workers=2)` until two workers are connected, then `scale(20)` until
twenty are, and how long each side's stand-in took to be ready. `--control-plane real` (root,
built binaries) runs both sides on `LocalKubernetes(control_plane="real")`: ours with the operator
under the chart's RBAC, upstream's operator with the admin's kubeconfig; the real controller
manager runs upstream's Deployments. `both` runs the emulated plane, then the real one.
`--node containers` (real plane only, root): the real kubelet with containerd and runc; both
sides' schedulers and workers run in containers of our Dask image (`kubernetes.image`, which both
KubeClusters read; built from HEAD by the test session's function, or `--images DIR`). Both
operators stay host processes, alike (upstream's image is on ghcr.io, unreachable here).
Run: .venv/bin/python bench/bench_kubecluster.py [--workers 20] [--repeat 1]
[--port-forward-cluster-ip] [--control-plane {emulated,real,both}] [--node containers]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kr8s
import kr8s.asyncio
import yaml
from _node import NODES, Node, check_plane, prepare
from kr8s.objects import CustomResourceDefinition

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_VENV = ROOT / "bench" / ".venvs" / "upstream"
UPSTREAM_PYTHON = UPSTREAM_VENV / "bin" / "python"

# A scheduler connection through the port-forward can be closed under it (seen on the container
# node, both sides use kr8s's forward); `wait_for_workers` does not retry, so this loop does, the
# same for both sides, and counts it.
MEASURE = """
import json, sys, time
from distributed.comm.core import CommClosedError
from dask_kubernetes.operator import KubeCluster
name, target, forward = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
options = {"port_forward_cluster_ip": True} if forward else {}
closed = 0
def wait(n, timeout):
    global closed
    deadline = time.monotonic() + timeout
    while True:
        try:
            return cluster.wait_for_workers(n, timeout=max(1.0, deadline - time.monotonic()))
        except CommClosedError:
            closed += 1
            if closed > 20 or time.monotonic() > deadline:
                raise
start = time.perf_counter()
cluster = KubeCluster(name=name, namespace="default", n_workers=2, quiet=True, **options)
wait(2, 300)
created = time.perf_counter() - start
start = time.perf_counter()
cluster.scale(target)
wait(target, 600)
scaled = time.perf_counter() - start
cluster.close()
print(json.dumps({"create_2": created, "scale_to_n": scaled, "closed": closed}))
"""


def measure(
    python: Path, kubeconfig: str, workers: int, forward: bool, image: str | None = None
) -> dict[str, float]:
    """One KubeCluster run in `python`'s environment; returns the two timings."""
    # Upstream sends `idleTimeout: null` by default; Kubernetes replaces a null with the schema's
    # default (0) but the stand-in rejects it, so both sides get an explicit 0.
    env = dict(os.environ, KUBECONFIG=kubeconfig, DASK_KUBERNETES__IDLE_TIMEOUT="0")
    if image is not None:  # the container node: both KubeClusters read `kubernetes.image`
        env["DASK_KUBERNETES__IMAGE"] = image
    name = f"bench-{secrets.token_hex(3)}"
    proc = subprocess.run(
        [str(python), "-c", MEASURE, name, str(workers), "1" if forward else "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{python} run failed:\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def install_crds(kubeconfig: str, crds: list[dict[str, Any]]) -> None:
    api = kr8s.api(kubeconfig=kubeconfig)
    present = {c["metadata"]["name"] for c in api.get("customresourcedefinitions", raw=True)}
    for crd in crds:
        if crd["metadata"]["name"] not in present:
            CustomResourceDefinition(crd, api=api).create()


def upstream_crds() -> list[dict[str, Any]]:
    """Upstream's CRDs: its source files hold unresolved `$ref` schemas (resolved only when its
    Helm chart is built), so take our compatible schemas with upstream's own `subresources`
    (no status subresource on DaskCluster: its operator writes status on the main object)."""
    from dask_kubernetes.operator.crds import load_crds

    site = subprocess.run(
        [str(UPSTREAM_PYTHON), "-c", "import dask_kubernetes; print(dask_kubernetes.__path__[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    folder = Path(site) / "operator" / "customresources"
    crds = load_crds()
    for crd in crds:
        stem = crd["spec"]["names"]["singular"]
        theirs = yaml.safe_load((folder / f"{stem}.yaml").read_text())
        for ours, upstream in zip(crd["spec"]["versions"], theirs["spec"]["versions"], strict=True):
            ours["subresources"] = upstream.get("subresources", {})
    return crds


@contextlib.contextmanager
def upstream_operator(kubeconfig: str, log: Path) -> Iterator[None]:
    env = dict(os.environ, KUBECONFIG=kubeconfig)
    kopf = UPSTREAM_VENV / "bin" / "kopf"
    argv = [str(kopf), "run", "-m", "dask_kubernetes.operator.controller", "--all-namespaces"]
    with log.open("w") as out:
        proc = subprocess.Popen([*argv, "--standalone"], env=env, stdout=out, stderr=out)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_ours(workers: int, forward: bool, plane: str, node: Node) -> dict[str, float]:
    from dask_kubernetes.local import LocalKubernetes
    from dask_kubernetes.operator.crds import load_crds

    started = time.perf_counter()
    with LocalKubernetes(operator=True, control_plane=plane, **node.options) as k8s:
        ready = time.perf_counter() - started
        install_crds(k8s.kubeconfig, load_crds())
        timings = measure(Path(sys.executable), k8s.kubeconfig, workers, forward, node.dask_image)
        return timings | {"ready": ready}


def run_upstream(workers: int, forward: bool, plane: str, node: Node) -> dict[str, float]:
    from dask_kubernetes.local import LocalKubernetes

    started = time.perf_counter()
    with LocalKubernetes(operator=False, control_plane=plane, **node.options) as k8s:
        ready = time.perf_counter() - started
        install_crds(k8s.kubeconfig, upstream_crds())
        await_crds_served(k8s.kubeconfig)
        log = Path(os.environ.get("BENCH_OPERATOR_LOG", Path(k8s.state_dir) / "operator.log"))
        with upstream_operator(k8s.kubeconfig, log):
            timings = measure(UPSTREAM_PYTHON, k8s.kubeconfig, workers, forward, node.dask_image)
            return timings | {"ready": ready}


def await_crds_served(kubeconfig: str, timeout: float = 60.0) -> None:
    """A real API server serves a new CRD's resources a moment after creating it (asked
    uncached: kr8s keeps its discovery for hours)."""

    async def served() -> None:
        api = await kr8s.asyncio.api(kubeconfig=kubeconfig)
        deadline = time.monotonic() + timeout
        while "daskclusters" not in {r["name"] for r in await api.async_api_resources_uncached()}:
            if time.monotonic() > deadline:
                raise SystemExit("the Dask CRDs are not served")
            await asyncio.sleep(0.2)

    asyncio.run(served())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--port-forward-cluster-ip",
        action="store_true",
        help="pass port_forward_cluster_ip=True to both (skips upstream's DNS retries outside a "
        "cluster)",
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
    if not UPSTREAM_PYTHON.exists():
        print(
            f"cannot run: missing {UPSTREAM_VENV}: python -m venv {UPSTREAM_VENV} && "
            f"{UPSTREAM_VENV}/bin/pip install dask-kubernetes==2026.3.0 distributed==2026.8.0",
            file=sys.stderr,
        )
        raise SystemExit(2)
    node = prepare(args.node, args.images)
    print(
        f"cpus={os.cpu_count()} load={' '.join(f'{x:.1f}' for x in os.getloadavg())} "
        f"workers={args.workers} "
        f"port_forward_cluster_ip={args.port_forward_cluster_ip or 'default'} "
        f"node={node.describe()}",
        flush=True,
    )
    planes = ("emulated", "real") if args.control_plane == "both" else (args.control_plane,)
    for plane in planes:
        bench_plane(plane, args.workers, args.repeat, args.port_forward_cluster_ip, node)
    print(f"load at the end={' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def bench_plane(plane: str, workers: int, repeat: int, forward: bool, node: Node) -> None:
    rows: dict[str, list[dict[str, float]]] = {"ours": [], "upstream": []}
    for _ in range(repeat):
        rows["ours"].append(run_ours(workers, forward, plane, node))
        print(f"[{plane}] load after ours: {os.getloadavg()[0]:.1f}", flush=True)
        rows["upstream"].append(run_upstream(workers, forward, plane, node))
        print(f"[{plane}] load after upstream: {os.getloadavg()[0]:.1f}", flush=True)
    best = {side: {k: min(r[k] for r in runs) for k in runs[0]} for side, runs in rows.items()}
    print(f"[{plane}] {'':>10} {'ready':>8} {'create, 2 workers':>18} {f'scale to {workers}':>14}")
    for side, times in best.items():
        closed = sum(int(r.get("closed", 0)) for r in rows[side])
        print(
            f"[{plane}] {side:>10} {times['ready']:>7.2f}s "
            f"{times['create_2']:>17.2f}s {times['scale_to_n']:>13.2f}s"
            + (f"  ({closed} scheduler connection(s) closed under it, retried)" if closed else "")
        )
    for key in ("create_2", "scale_to_n"):
        ratio = best["upstream"][key] / best["ours"][key]
        print(f"[{plane}] ratio {key}: upstream/ours = {ratio:.2f}x")


if __name__ == "__main__":
    main()
