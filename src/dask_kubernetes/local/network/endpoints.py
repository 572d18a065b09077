"""Which pods back a Service, and the Endpoints object that says so (pure functions): the
endpoints controller's rules, which the network agent runs on the emulated plane."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dask_kubernetes.common.pods import container_port, is_terminal, serves_traffic
from dask_kubernetes.local.apimachinery.selectors import labels_match, requirements_of

Backend = tuple[str, int]


def selects(service: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """The Service's selector picks the pod (same namespace; no selector picks none)."""
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector or pod["metadata"].get("namespace") != service["metadata"].get("namespace"):
        return False
    return labels_match(requirements_of(selector), pod)


def _target_port(service_port: Mapping[str, Any], pod: Mapping[str, Any]) -> int | None:
    target = service_port.get("targetPort", service_port["port"])
    for container in (pod.get("spec") or {}).get("containers") or []:
        try:
            return container_port(target, container)
        except ValueError:
            continue
    return None


def backends(
    service: Mapping[str, Any], service_port: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]
) -> list[Backend]:
    """Ready pods' (IP, target port) for one Service port, in a stable order."""
    found = []
    for pod in pods:
        if selects(service, pod) and serves_traffic(pod):
            port = _target_port(service_port, pod)
            if port is not None:
                found.append((str(pod["status"]["podIP"]), port))
    return sorted(found)


def _address(pod: Mapping[str, Any]) -> dict[str, Any]:
    meta = pod["metadata"]
    return {
        "ip": pod["status"]["podIP"],
        "nodeName": (pod.get("spec") or {}).get("nodeName", "local"),
        "targetRef": {
            "kind": "Pod",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta.get("uid", ""),
        },
    }


def endpoints_subsets(
    service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """`subsets` of the Service's Endpoints: pods grouped by their resolved target ports."""
    groups: dict[tuple[tuple[str, int, str], ...], dict[str, list[dict[str, Any]]]] = {}
    service_ports = (service.get("spec") or {}).get("ports") or []
    for pod in sorted(pods, key=lambda p: str(p["metadata"]["name"])):
        if not selects(service, pod) or not (pod.get("status") or {}).get("podIP"):
            continue
        if is_terminal(pod):
            continue
        ports: list[tuple[str, int, str]] = []
        for sp in service_ports:
            port = _target_port(sp, pod)
            if port is not None:
                ports.append((str(sp.get("name", "")), port, str(sp.get("protocol", "TCP"))))
        group = groups.setdefault(tuple(ports), {"addresses": [], "notReadyAddresses": []})
        which = "addresses" if serves_traffic(pod) else "notReadyAddresses"
        group[which].append(_address(pod))
    subsets = []
    for port_key, group in groups.items():
        subset: dict[str, Any] = {k: v for k, v in group.items() if v}
        subset["ports"] = [
            {**({"name": name} if name else {}), "port": port, "protocol": protocol}
            for name, port, protocol in port_key
        ]
        subsets.append(subset)
    return subsets
