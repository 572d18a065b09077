"""Argument sets for the manifest helpers, shared by the golden-file test and its generator."""

from __future__ import annotations

from typing import Any

CLUSTER_CASES: list[dict[str, Any]] = [
    {"name": "plain"},
    {"name": "workers", "n_workers": 4},
    {"name": "image", "image": "ghcr.io/dask/dask:2026.3.0", "n_workers": 1},
    {"name": "env-dict", "env": {"A": "1", "B": "two"}},
    {"name": "env-list", "env": [{"name": "A", "value": "1"}]},
    {"name": "resources", "resources": {"limits": {"cpu": "1", "memory": "2G"}}},
    {"name": "command-str", "worker_command": "python -m distributed.cli.dask_worker"},
    {"name": "command-list", "worker_command": ["dask", "worker"]},
    {"name": "lb", "scheduler_service_type": "LoadBalancer"},
    {"name": "idle", "idle_timeout": 60},
    {"name": "jupyter", "jupyter": True},
]
WORKER_CASES: list[dict[str, Any]] = [
    {},
    {"n_workers": 2, "env": {"X": "y"}, "worker_command": "dask-cuda-worker --nthreads 1"},
    {"image": "my/image:1", "resources": {"requests": {"cpu": "500m"}}},
]
SCHEDULER_CASES: list[dict[str, Any]] = [
    {"cluster_name": "a"},
    {"cluster_name": "b", "env": {"A": "1"}, "scheduler_service_type": "NodePort", "jupyter": True},
]
