"""What HTTPS costs the local stand-in: start-up time and request throughput, with and without TLS.

Starts `LocalKubernetes(tls=...)` (no operator) several times and, on each, times sequential GETs
of a small list with a kept-alive connection and with a new connection per request (a TLS handshake
each time, as short-lived clients such as kubectl pay). Both use the admin token.

    .venv/bin/python bench/bench_standin_tls.py [--rounds 5] [--requests 300]
"""

from __future__ import annotations

import argparse
import ssl
import statistics
import time
from dataclasses import dataclass

import httpx

from dask_kubernetes.local import LocalKubernetes

PATH = "/api/v1/namespaces/default/configmaps"


@dataclass
class Round:
    start_seconds: float
    kept_alive_per_second: float
    new_connection_per_second: float


def _client(k8s: LocalKubernetes, *, keep_alive: bool) -> httpx.Client:
    assert k8s.api_server is not None
    ca = k8s.api_server.ca_pem
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cadata=ca.decode()) if ca is not None else True
    )
    limits = httpx.Limits(max_keepalive_connections=1 if keep_alive else 0)
    return httpx.Client(
        base_url=k8s.url,
        headers={"Authorization": f"Bearer {k8s.api_server.admin_token}"},
        verify=verify,
        limits=limits,
        timeout=30,
    )


def _rate(client: httpx.Client, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        client.get(PATH).raise_for_status()
    return requests / (time.perf_counter() - started)


def one_round(tls: bool, requests: int) -> Round:
    started = time.perf_counter()
    with LocalKubernetes(tls=tls) as k8s:
        start_seconds = time.perf_counter() - started
        with _client(k8s, keep_alive=True) as client:
            kept_alive = _rate(client, requests)
        with _client(k8s, keep_alive=False) as client:
            fresh = _rate(client, max(requests // 3, 1))
    return Round(start_seconds, kept_alive, fresh)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    results: dict[bool, list[Round]] = {False: [], True: []}
    for _ in range(args.rounds):  # interleaved, so a busy machine slows both alike
        for tls in (False, True):
            results[tls].append(one_round(tls, args.requests))
    for tls, rounds in results.items():
        start = statistics.median(r.start_seconds for r in rounds)
        kept = statistics.median(r.kept_alive_per_second for r in rounds)
        fresh = statistics.median(r.new_connection_per_second for r in rounds)
        print(
            f"{'https' if tls else 'http':>5}: start {start:6.3f} s (median of {args.rounds}), "
            f"{kept:7.0f} req/s kept alive, {fresh:7.0f} req/s new connection each",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
