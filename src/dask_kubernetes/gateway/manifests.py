"""What the gateway submits for one cluster: a DaskCluster and the Secret with its gateway token.

Pure functions (no I/O), so every shape is unit tested without a cluster. The DaskCluster has
`spec.tls: true`: the operator's per-cluster CA, scheduler/worker/client certificates and the
token guard on the scheduler's HTTP API (see `operator/dask_tls.py`). The gateway does not
make a second TLS setup: it hands the owner the operator's client certificate (bundled with
the cluster's CA, because dask-gateway's client uses one PEM as both trust root and
certificate chain), the proxy forwards TLS untouched by SNI, and the operator's retirements
keep their guard. With dask-gateway's own self-signed pair instead, the operator could not
guard its API (it knows nothing of that pair) and every Pod would carry two TLS setups.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping
from typing import Any

from dask_kubernetes.gateway import names
from dask_kubernetes.gateway import preload as p
from dask_kubernetes.operator import dask_tls
from dask_kubernetes.operator import vocabulary as v

Manifest = dict[str, Any]

PRELOAD_ENV = dask_tls.PRELOAD_ENV
#: A gateway user's code runs in these Pods. `automountServiceAccountToken: false` belongs here
#: (no token of the namespace's default ServiceAccount), but the stand-in's kubelet on the real
#: control plane then never starts the Pod (it stays Pending): left out until that is fixed;
#: the default ServiceAccount of the gateway's namespace must hold no permissions (the chart
#: grants it none).
NO_API_CREDENTIAL: dict[str, object] = {}


def _quantity_cpu(cores: float) -> str:
    return f"{round(float(cores) * 1000)}m"


def _resources(cores: float, memory: int) -> dict[str, Any]:
    amount = {"cpu": _quantity_cpu(cores), "memory": str(int(memory))}
    return {"requests": dict(amount), "limits": dict(amount)}


def _env(values: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"name": key, "value": str(value)} for key, value in values.items()]


def _token_env(cluster: str) -> dict[str, Any]:
    ref = {"name": names.gateway_secret_name(cluster), "key": names.TOKEN_KEY}
    return {"name": "DASK_GATEWAY_API_TOKEN", "valueFrom": {"secretKeyRef": ref}}


def daskcluster(
    name: str,
    *,
    username: str,
    instance: str,
    options: Mapping[str, Any],
    config: Mapping[str, Any],
    api_url: str,
    heartbeat_period: float,
) -> Manifest:
    """The DaskCluster of gateway cluster `name`, for `username`, with the resolved `config`.

    `config` is `OperatorClusterConfig.to_dict()`: the admin's settings after the admin's
    option handler ran, never a raw user value.
    """
    environment = {str(k): str(val) for k, val in (config.get("environment") or {}).items()}
    scheduler_env = environment | {
        "DASK_GATEWAY_API_URL": api_url,
        "DASK_GATEWAY_CLUSTER_NAME": name,
        p.HEARTBEAT_PERIOD_ENV: str(heartbeat_period),
        p.ADAPTIVE_PERIOD_ENV: str(config.get("adaptive_period", 3)),
        p.IDLE_TIMEOUT_ENV: str(config.get("idle_timeout", 0)),
        p.API_PORT_ENV: str(names.GATEWAY_API_PORT),
        # Both preloads: the operator's API guard (which it would set alone) and the gateway's.
        PRELOAD_ENV: repr([dask_tls.API_GUARD_PRELOAD, p.PRELOAD]),
    }
    image = str(config["image"])
    pull = str(config.get("image_pull_policy") or "IfNotPresent")
    scheduler_container = {
        "name": "scheduler",
        "image": image,
        "imagePullPolicy": pull,
        "args": [
            *config["scheduler_cmd"],
            "--protocol",
            "tls",
            "--port",
            str(v.SCHEDULER_PORT),
            "--dashboard-address",
            f":{v.DASHBOARD_PORT}",
        ],
        "env": [*_env(scheduler_env), _token_env(name)],
        "ports": [
            {"name": v.SCHEDULER_PORT_NAME, "containerPort": v.SCHEDULER_PORT},
            {"name": v.DASHBOARD_PORT_NAME, "containerPort": v.DASHBOARD_PORT},
            {"name": names.GATEWAY_API_PORT_NAME, "containerPort": names.GATEWAY_API_PORT},
        ],
        "resources": _resources(config["scheduler_cores"], config["scheduler_memory"]),
    }
    worker_container = {
        "name": "worker",
        "image": image,
        "imagePullPolicy": pull,
        "args": [
            *config["worker_cmd"],
            "--name",
            "$(DASK_WORKER_NAME)",
            "--dashboard-address",
            f":{v.WORKER_DASHBOARD_PORT}",
            "--nthreads",
            str(config["worker_threads"]),
            "--memory-limit",
            str(int(config["worker_memory"])),
        ],
        "env": _env(environment),
        "resources": _resources(config["worker_cores"], config["worker_memory"]),
    }
    service_ports = [
        {"name": v.SCHEDULER_PORT_NAME, "port": v.SCHEDULER_PORT, "targetPort": v.SCHEDULER_PORT},
        {"name": v.DASHBOARD_PORT_NAME, "port": v.DASHBOARD_PORT, "targetPort": v.DASHBOARD_PORT},
        {
            "name": names.GATEWAY_API_PORT_NAME,
            "port": names.GATEWAY_API_PORT,
            "targetPort": names.GATEWAY_API_PORT,
        },
    ]
    return {
        "apiVersion": v.API_VERSION,
        "kind": v.DASK_CLUSTER.kind,
        "metadata": {
            "name": name,
            "labels": {names.INSTANCE_LABEL: instance},
            "annotations": {
                names.USER_ANNOTATION: username,
                names.OPTIONS_ANNOTATION: json.dumps(dict(options), sort_keys=True),
                names.CONFIG_ANNOTATION: json.dumps(dict(config), sort_keys=True),
            },
        },
        "spec": {
            v.TLS_FIELD: True,
            "idleTimeout": 0,
            "scheduler": {
                "spec": {"containers": [scheduler_container], **NO_API_CREDENTIAL},
                "service": {"type": "ClusterIP", "ports": service_ports},
            },
            "worker": {
                "replicas": 0,
                "spec": {"containers": [worker_container], **NO_API_CREDENTIAL},
            },
        },
    }


def gateway_secret(cluster: str, instance: str, token: str) -> Manifest:
    """The Secret with the cluster's gateway token (owner added once the cluster exists)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": names.gateway_secret_name(cluster),
            "labels": {names.INSTANCE_LABEL: instance} | v.cluster_labels(cluster),
        },
        "type": "Opaque",
        "data": {names.TOKEN_KEY: base64.b64encode(token.encode()).decode()},
    }


def owner_patch(cluster: Mapping[str, Any]) -> Manifest:
    """Make a Secret a dependent of the DaskCluster: the garbage collector deletes it with it."""
    meta = cluster["metadata"]
    reference = {
        "apiVersion": v.API_VERSION,
        "kind": v.DASK_CLUSTER.kind,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": False,
        "blockOwnerDeletion": False,
    }
    return {"metadata": {"ownerReferences": [reference]}}


def decoded(secret: Mapping[str, Any]) -> dict[str, str]:
    return {
        key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()
    }


def client_credentials(tls_data: Mapping[str, str]) -> tuple[bytes, bytes]:
    """(tls_cert, tls_key) for dask-gateway's client from the operator's TLS Secret's data.

    The client loads `tls_cert` both as its CA file and as its certificate chain: the client
    certificate first (it matches the key), then the cluster's CA that verifies the scheduler.
    """
    cert = tls_data[v.tls_cert_key("client")].strip() + "\n" + tls_data[v.TLS_CA_KEY].strip()
    return (cert + "\n").encode(), tls_data[v.tls_private_key_key("client")].encode()


def user_of(cluster: Mapping[str, Any]) -> str:
    return str(
        ((cluster.get("metadata") or {}).get("annotations") or {}).get(names.USER_ANNOTATION, "")
    )


def json_annotation(cluster: Mapping[str, Any], key: str) -> dict[str, Any]:
    raw = ((cluster.get("metadata") or {}).get("annotations") or {}).get(key) or "{}"
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return dict(value) if isinstance(value, dict) else {}


def replicas(cluster: Mapping[str, Any]) -> int:
    return int(((cluster.get("spec") or {}).get("worker") or {}).get("replicas") or 0)


def with_replicas(cluster: Mapping[str, Any], count: int) -> Manifest:
    out = copy.deepcopy(dict(cluster))
    out["spec"]["worker"]["replicas"] = count
    return out
