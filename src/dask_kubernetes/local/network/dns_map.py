"""The cluster DNS hosts map (`STATE_DIR/dns.json`) that pod start-up hooks read.

Written atomically so a pod never reads half a file; the hook re-reads it when its mtime changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dask_kubernetes.common.files import write_atomically


def service_names(name: str, namespace: str) -> list[str]:
    """The fully qualified name of a Service (the hook expands short forms to it)."""
    return [f"{name}.{namespace}.svc.cluster.local"]


def hosts_for_services(
    services: Iterable[Mapping[str, Any]], ready_ips: Mapping[str, list[str]]
) -> dict[str, list[str]]:
    """Map Service FQDNs to their cluster IP, or to ready pod IPs for headless Services."""
    hosts: dict[str, list[str]] = {}
    for service in services:
        meta = service["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        cluster_ip = (service.get("spec") or {}).get("clusterIP")
        ips = [cluster_ip] if cluster_ip and cluster_ip != "None" else ready_ips.get(key, [])
        if ips:
            for fqdn in service_names(meta["name"], meta["namespace"]):
                hosts[fqdn] = list(ips)
    return hosts


def write_dns_map(path: Path, hosts: Mapping[str, list[str]]) -> None:
    write_atomically(path, json.dumps({"hosts": dict(sorted(hosts.items()))}))
