"""The emulated control plane's controller manager: garbage collection, Deployments and
ReplicaSets over the emulator's objects, started beside the API server by whoever composes them
(`local/emulated.py`, the API tests), as kube-controller-manager runs beside kube-apiserver.

The API server knows nothing of them: the garbage collector hears of deletions and of new
dependents through `ObjectAPI.on_collectable`, the others watch the store.
"""

from __future__ import annotations

from dask_kubernetes.local.apiserver.objects import ObjectAPI
from dask_kubernetes.local.controllers.deployments import DeploymentController
from dask_kubernetes.local.controllers.gc import GarbageCollector
from dask_kubernetes.local.controllers.replicasets import ReplicaSetController


class ControllerManager:
    """`start()` on the API server's loop, `await stop()`; tests await `pending_events() == 0`."""

    def __init__(self, objects: ObjectAPI) -> None:
        self.gc = GarbageCollector(objects)
        self.deployments = DeploymentController(objects)
        self.replica_sets = ReplicaSetController(objects)
        objects.on_collectable(self.gc.notify)

    def start(self) -> None:
        self.gc.start()
        self.deployments.start()
        self.replica_sets.start()

    async def stop(self) -> None:
        await self.deployments.stop()
        await self.replica_sets.stop()
        await self.gc.stop()

    def pending_events(self) -> int:
        """Writes the Deployment and ReplicaSet controllers have not handled yet."""
        return self.deployments.pending_events() + self.replica_sets.pending_events()
