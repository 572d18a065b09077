"""Start-up time of the real control plane (etcd, kube-apiserver, controller manager, scheduler)
next to the stand-in emulator (`LocalKubernetes`, no operator).

Why: the real plane is the stronger test bed (real RBAC, real schema validation), but the suite can
only afford it if starting it costs seconds. "Cold binaries" evicts the five binaries from the page
cache first (posix_fadvise DONTNEED on those files only, nothing else on the machine), as on the
first start after a build or a reboot; "warm" is every start after that.

Run: .venv/bin/python bench/bench_controlplane.py [--repeat 3]
(needs `python -m dask_kubernetes.local.provision build` first)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from dask_kubernetes.local import LocalKubernetes
from dask_kubernetes.local.controlplane.plane import ControlPlane
from dask_kubernetes.local.provision.build import BINARIES, BUILD_HINT, find_built
from dask_kubernetes.local.provision.golang import cache_roots
from dask_kubernetes.local.provision.gomod import default_modules


def binaries() -> Path:
    built = find_built(default_modules(), cache_roots())
    if built is None:
        sys.exit(f"bench_controlplane: not built; run {BUILD_HINT}")
    return built.directory / "bin"


def evict(directory: Path) -> None:
    for name in BINARIES:
        descriptor = os.open(directory / name, os.O_RDONLY)
        try:
            os.fsync(descriptor)
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def start_plane(directory: Path) -> tuple[float, dict[str, float]]:
    started = time.monotonic()
    plane = ControlPlane(directory)
    plane.start()
    elapsed = time.monotonic() - started
    plane.stop()
    return elapsed, dict(plane.start_seconds)


def start_standin() -> float:
    started = time.monotonic()
    with LocalKubernetes():
        elapsed = time.monotonic() - started
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    directory = binaries()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    evict(directory)
    cold, parts = start_plane(directory)
    print(f"  real plane, cold binaries   {cold:6.2f} s  {parts}")
    warm = []
    for _ in range(args.repeat):
        seconds, parts = start_plane(directory)
        warm.append(seconds)
        print(f"  real plane, warm binaries   {seconds:6.2f} s  {parts}")
    standin = [start_standin() for _ in range(args.repeat)]
    print(f"  real plane, warm, median    {statistics.median(warm):6.2f} s")
    print(f"  stand-in emulator, median   {statistics.median(standin):6.2f} s")
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
