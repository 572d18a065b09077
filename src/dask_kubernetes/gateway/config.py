"""What one gateway cluster may be: the admin's per-cluster settings, as dask-gateway traits.

dask-gateway keeps per-cluster settings in a `ClusterConfig` that the admin's config file fills
and the admin's cluster-options handler may override per request; a user only picks among the
options the admin declared. This subclass adds what a Kubernetes Pod needs (image, pull policy)
and an image allow-list checked here, so even an admin handler that passes a user's string
through cannot start an image outside it. Its commands default to `dask scheduler` /
`dask worker`: dask-gateway-server 2026.3.0's defaults call `dask-scheduler`/`dask-worker`,
which distributed removed (dask-gateway #944, #945).
"""

from __future__ import annotations

from typing import Any

from dask_gateway_server.backends.base import ClusterConfig
from dask_gateway_server.traitlets import Command
from traitlets import Float, List, Unicode, validate


class OperatorClusterConfig(ClusterConfig):  # type: ignore[misc]
    """Configuration of one Dask cluster run by the dask-kubernetes operator."""

    scheduler_cmd = Command(
        ["dask", "scheduler"], help="Command that starts the scheduler.", config=True
    )
    worker_cmd = Command(["dask", "worker"], help="Command that starts a worker.", config=True)

    image = Unicode(
        "ghcr.io/dask/dask:latest",
        help="Container image of the scheduler and workers (needs dask-gateway installed).",
        config=True,
    )
    image_allowlist = List(
        Unicode(),
        [],
        help="Images a cluster may use; empty: only `image` as configured. A value outside "
        "the list is refused, whoever set it.",
        config=True,
    )
    image_pull_policy = Unicode("IfNotPresent", help="The Pods' imagePullPolicy.", config=True)
    worker_cores = Float(1, min=0, help="CPU request and limit of a worker.", config=True)
    scheduler_cores = Float(1, min=0, help="CPU request and limit of the scheduler.", config=True)

    @validate("image")
    def _validate_image(self, proposal: dict[str, Any]) -> str:
        image = str(proposal["value"])
        allowed = list(self.image_allowlist)
        if allowed and image not in allowed:
            raise ValueError(f"image {image!r} is not allowed (allowed: {', '.join(allowed)})")
        return image

    def check_image(self) -> None:
        """Refuse `image` when the allow-list (maybe set after it) does not name it."""
        self._validate_image({"value": self.image})
