"""Which loopback addresses one stand-in instance uses.

Each instance takes a whole `127.N.0.0/16` so that two stand-ins (e.g. two test sessions) never hand
out the same pod or Service address; see docs/design/local-standin.md for the split.
"""

from __future__ import annotations

import fcntl
import ipaddress
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_PROC_NET_TCP = Path("/proc/net/tcp")


@dataclass(frozen=True)
class AddressPlan:
    """The /16 of one instance and its pod, Service and load-balancer ranges."""

    block: int

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"127.{self.block}.0.0/16")

    @property
    def pod_cidr(self) -> str:
        return f"127.{self.block}.0.0/17"

    @property
    def service_cidr(self) -> str:
        return f"127.{self.block}.128.0/18"

    @property
    def load_balancer_cidr(self) -> str:
        return f"127.{self.block}.192.0/18"


def _blocks_in_use() -> set[int]:
    """Second octets of 127.x addresses with listening or connected TCP sockets right now."""
    used: set[int] = set()
    try:
        lines = _PROC_NET_TCP.read_text().splitlines()[1:]
    except OSError:
        return used
    for line in lines:
        local_hex = line.split()[1].split(":")[0]
        # /proc/net/tcp prints the address as a little-endian 32-bit hex number.
        octets = bytes.fromhex(local_hex)[::-1]
        if octets[0] == 127:
            used.add(octets[1])
    return used


def choose_address_plan(rng: random.Random | None = None) -> AddressPlan:
    """Pick a `127.N.0.0/16` (N in 10..250) with no TCP socket in it right now."""
    rng = rng or random.SystemRandom()
    candidates = [n for n in range(10, 251) if n not in _blocks_in_use()]
    if not candidates:
        raise RuntimeError("no free 127.N.0.0/16 block for the local Kubernetes stand-in")
    return AddressPlan(rng.choice(candidates))


class AddressClaim:
    """An address plan held by an exclusive lock file for as long as the stand-in runs.

    Sockets alone do not show that a block is taken (a stand-in without pods has none), so every
    instance on this machine also locks `TMPDIR/dask-kubernetes-local/127.N.lock`.
    """

    def __init__(self, plan: AddressPlan, handle: IO[bytes]) -> None:
        self.plan = plan
        self._handle = handle

    @classmethod
    def acquire(cls, rng: random.Random | None = None, attempts: int = 50) -> AddressClaim:
        lock_dir = Path(tempfile.gettempdir()) / "dask-kubernetes-local"
        lock_dir.mkdir(exist_ok=True)
        for _ in range(attempts):
            plan = choose_address_plan(rng)
            handle = (lock_dir / f"127.{plan.block}.lock").open("ab")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            return cls(plan, handle)
        raise RuntimeError("no unclaimed 127.N.0.0/16 block for the local Kubernetes stand-in")

    def release(self) -> None:
        if not self._handle.closed:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
