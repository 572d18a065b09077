"""Service cluster IPs from the stand-in's address plan, one free address per Service."""

from __future__ import annotations

import ipaddress

from .errors import APIError


class ClusterIPAllocator:
    """Hands out `cidr` addresses in order (never the network address); reuses released ones."""

    def __init__(self, cidr: str) -> None:
        self._network = ipaddress.ip_network(cidr)
        self._used: set[str] = set()

    def allocate(self, requested: str | None = None) -> str:
        if requested:
            if ipaddress.ip_address(requested) not in self._network:
                raise APIError(
                    422, f"spec.clusterIP: Invalid value: {requested!r}: not in {self._network}"
                )
            if requested in self._used:
                raise APIError(
                    422, f"spec.clusterIP: Invalid value: {requested!r}: already allocated"
                )
            self._used.add(requested)
            return requested
        for address in self._network.hosts():
            text = str(address)
            if text not in self._used:
                self._used.add(text)
                return text
        raise APIError(500, f"no free cluster IP left in {self._network}")

    def release(self, address: str | None) -> None:
        if address:
            self._used.discard(address)

    def __contains__(self, address: str) -> bool:
        return address in self._used
