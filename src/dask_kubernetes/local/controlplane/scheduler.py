"""kube-scheduler for the plane: its own identity and kubeconfig, serving on loopback only."""

from __future__ import annotations

from dataclasses import dataclass

from dask_kubernetes.local.controlplane.component import LoopbackComponent


@dataclass
class Scheduler(LoopbackComponent):
    """Nothing beyond the shared flags: the default scheduling profile."""
