"""Hand out loopback addresses from a CIDR (pod IPs, load-balancer ingress IPs)."""

from __future__ import annotations

import ipaddress


class AddressPoolExhausted(Exception):
    """Every address of the range is in use."""


class AddressPool:
    """Allocates addresses of `cidr` from `.first_host` on, reusing released ones last."""

    def __init__(self, cidr: str, *, skip: int = 1) -> None:
        network = ipaddress.IPv4Network(cidr)
        # Skip the network address and the first `skip` hosts (.1 plays the gateway).
        self._free = [str(ip) for ip in list(network.hosts())[skip:]]
        self._free.reverse()
        self._owners: dict[str, str] = {}

    def allocate(self, owner: str) -> str:
        """An address for `owner` (the same one again if it already has one)."""
        for ip, current in self._owners.items():
            if current == owner:
                return ip
        if not self._free:
            raise AddressPoolExhausted(f"no free address left for {owner}")
        ip = self._free.pop()
        self._owners[ip] = owner
        return ip

    def release(self, owner: str) -> None:
        for ip, current in list(self._owners.items()):
            if current == owner:
                del self._owners[ip]
                self._free.insert(0, ip)

    def owners(self) -> set[str]:
        return set(self._owners.values())

    def owner_of(self, ip: str) -> str | None:
        return self._owners.get(ip)
