"""Service cluster IPs from the stand-in's address plan, one free address per Service, and node
ports from kube-apiserver's default `--service-node-port-range`, one per Service port."""

from __future__ import annotations

import ipaddress

from dask_kubernetes.local.apimachinery.errors import APIError


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


NODE_PORT_RANGE = range(30000, 32768)  # kube-apiserver's default --service-node-port-range


class NodePortAllocator:
    """Node ports as kube-apiserver allocates them: a requested one if it is free and in range
    (else 422, with kube-apiserver's message), otherwise a free one of the range."""

    def __init__(self, ports: range = NODE_PORT_RANGE) -> None:
        self._range = ports
        self._used: set[int] = set()
        self._next = 0

    def check(self, requested: int, field: str) -> dict[str, str] | None:
        """The 422 cause that refuses `requested` at `field`, or None if it can be had."""
        if requested not in self._range:
            valid = f"{self._range.start}-{self._range.stop - 1}"
            reason = f"provided port is not in the valid range. The range of valid ports is {valid}"
        elif requested in self._used:
            reason = "provided port is already allocated"
        else:
            return None
        return {
            "reason": "FieldValueInvalid",
            "message": f"Invalid value: {requested}: {reason}",
            "field": field,
        }

    def take(self, requested: int) -> None:
        self._used.add(requested)

    def allocate(self) -> int:
        for offset in range(len(self._range)):
            port = self._range[(self._next + offset) % len(self._range)]
            if port not in self._used:
                self._used.add(port)
                self._next = (self._next + offset + 1) % len(self._range)
                return port
        raise APIError(500, f"no free node port left in {self._range.start}-{self._range.stop - 1}")

    def release(self, port: int | None) -> None:
        if port:
            self._used.discard(port)
