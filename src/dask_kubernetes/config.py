"""The `kubernetes.*` Dask config keys KubeCluster reads, with upstream's defaults.

At upstream's path (`dask_kubernetes.config`), registered on `import dask_kubernetes` as upstream
does, so `dask.config.get("kubernetes.image")` works before any KubeCluster is made.

Registered as defaults (not overrides), so a user's `~/.config/dask/kubernetes.yaml` or
`DASK_KUBERNETES__*` environment variables still win, exactly as with upstream.
"""

from __future__ import annotations

from typing import Any

import dask.config

DEFAULTS: dict[str, Any] = {
    "name": "dask-{user}-{uuid}",
    "namespace": None,
    "image": "ghcr.io/dask/dask:latest",
    "env": {},
    "count": {"start": 0, "max": None},
    "resources": {},
    "worker-command": "dask-worker",
    "port-forward-cluster-ip": None,
    "create-mode": "CREATE_OR_CONNECT",
    "shutdown-on-close": True,
    "resource-timeout": 60,
    "custom-cluster-spec": None,
    "scheduler-service-type": "ClusterIP",
    "scheduler-forward-port": None,
    "scheduler-jupyter": False,
    "idle-timeout": None,
    "scheduler-service-name-resolution-retries": 20,
}

dask.config.update_defaults({"kubernetes": DEFAULTS})


def setting(key: str, override: Any = None) -> Any:
    """`override` when given, else the configured value, else upstream's default."""
    fallback: Any = DEFAULTS
    for part in key.split("."):
        fallback = fallback.get(part) if isinstance(fallback, dict) else None
    return dask.config.get(f"kubernetes.{key}", default=fallback, override_with=override)
