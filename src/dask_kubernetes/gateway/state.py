"""A gateway cluster's record, derived from the custom resources alone.

dask-gateway's routes want a `models.Cluster` (status, addresses, TLS credentials, token).
Everything in it comes from the DaskCluster (phase, user and options annotations), its
scheduler Pod (address) and two Secrets it owns (the operator's TLS Secret, the gateway's
token Secret), so any gateway replica, freshly started or not, derives the same record.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dask_gateway_server import models

from dask_kubernetes.gateway import manifests as m
from dask_kubernetes.gateway import names
from dask_kubernetes.operator import vocabulary as v

_PHASES = {
    "Pending": models.ClusterStatus.PENDING,
    "Created": models.ClusterStatus.PENDING,
    "Running": models.ClusterStatus.RUNNING,
    "Closing": models.ClusterStatus.STOPPING,
    "Error": models.ClusterStatus.FAILED,
}


@dataclass
class Credentials:
    """What the Secrets hold for one incarnation (uid) of a cluster."""

    token: str
    tls_cert: bytes
    tls_key: bytes


def timestamp_ms(value: str | None) -> int | None:
    if not value:
        return None
    moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000)


def pod_ip(pod: Mapping[str, Any] | None) -> str:
    if not pod or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return ""
    status = pod.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return str(status.get("podIP") or "") if ready else ""


def phase_of(cluster: Mapping[str, Any]) -> str:
    if (cluster.get("metadata") or {}).get("deletionTimestamp"):
        return "Closing"
    return str((cluster.get("status") or {}).get("phase") or "Pending")


def to_model(
    cluster: Mapping[str, Any],
    scheduler_pod: Mapping[str, Any] | None,
    credentials: Credentials | None,
) -> models.Cluster:
    """The record of one DaskCluster; RUNNING only once it can actually be reached."""
    meta = cluster["metadata"]
    status = _PHASES.get(phase_of(cluster), models.ClusterStatus.PENDING)
    ip = pod_ip(scheduler_pod)
    if status == models.ClusterStatus.RUNNING and (not ip or credentials is None):
        status = models.ClusterStatus.PENDING
    running = status == models.ClusterStatus.RUNNING
    return models.Cluster(
        name=meta["name"],
        username=m.user_of(cluster),
        token=credentials.token if credentials else "",
        options=m.json_annotation(cluster, names.OPTIONS_ANNOTATION),
        config=m.json_annotation(cluster, names.CONFIG_ANNOTATION),
        status=status,
        scheduler_address=f"tls://{ip}:{v.SCHEDULER_PORT}" if running else "",
        dashboard_address=f"http://{ip}:{v.DASHBOARD_PORT}" if running else "",
        api_address=f"http://{ip}:{names.GATEWAY_API_PORT}" if running else "",
        tls_cert=credentials.tls_cert if credentials else b"",
        tls_key=credentials.tls_key if credentials else b"",
        start_time=timestamp_ms(meta.get("creationTimestamp")),
        stop_time=None,
    )


def cores_and_memory(cluster: Mapping[str, Any], workers: int | None = None) -> tuple[float, int]:
    """(cores, bytes) a cluster holds at `workers` workers (default: its current scale)."""
    config = m.json_annotation(cluster, names.CONFIG_ANNOTATION)
    count = m.replicas(cluster) if workers is None else workers
    cores = float(config.get("scheduler_cores", 1)) + count * float(config.get("worker_cores", 1))
    memory = int(config.get("scheduler_memory", 0)) + count * int(config.get("worker_memory", 0))
    return cores, memory
