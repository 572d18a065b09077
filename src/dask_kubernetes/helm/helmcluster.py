# mypy: disable-error-code="no-untyped-call"
# (distributed's Cluster, Adaptive, rpc and sync carry no annotations; ours are typed.)
"""`HelmCluster`: connect to a Dask cluster the dask/dask Helm chart installed, scale it, read logs.

The release is found through the Kubernetes API (Helm's release Secret), so no `helm` binary is
needed. Scaling down retires the workers Dask chooses before their pods go (see `workers`),
which makes `adapt()` safe; upstream's HelmCluster let Kubernetes choose, and refused to adapt.
Closing disconnects and leaves the release alone: it belongs to `helm`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from distributed.core import Status, rpc
from distributed.deploy.adaptive import Adaptive
from distributed.deploy.cluster import Cluster
from distributed.utils import Logs, format_dashboard_link
from kr8s.asyncio.objects import Service

from dask_kubernetes.operator.kubecluster.errors import KubeClusterError, ResourceTimeoutError
from dask_kubernetes.operator.kubecluster.kr8s_api import (
    Api,
    connect,
    find_object,
    kubernetes_errors,
)
from dask_kubernetes.operator.kubecluster.logs import component_logs
from dask_kubernetes.operator.kubecluster.networking import (
    SchedulerAddressResolver,
    running_in_cluster,
    service_port,
    wait_for_scheduler_comm,
)

from .release import HelmRelease, SchedulerUnreachableError, read_release
from .workers import get_deployment, scale_down, set_replicas

#: Seconds to wait for the scheduler to answer once its address is known.
SCHEDULER_TIMEOUT = 60.0
#: How often cluster DNS is tried for the Service name inside a cluster.
IN_CLUSTER_DNS_RETRIES = 20


class HelmCluster(Cluster):
    """Connect to a Dask cluster deployed with the dask/dask Helm chart.

    `release_name`: the Helm release; `namespace`: its namespace (default: the kubeconfig's).
    `port_forward_cluster_ip`: for a ClusterIP scheduler Service, forward a local port through
    the API server (True), or try the Service's DNS name first (False). None (the default, as
    KubeCluster's): the DNS name inside a cluster, a forward outside, with no DNS query there.
    `scheduler_name`/`worker_name`: the chart's component names. `node_host`/`node_port`: reach
    a NodePort scheduler at this address instead of asking the API for a node.

    >>> cluster = HelmCluster("my-dask")  # doctest: +SKIP
    >>> cluster.scale(10)  # doctest: +SKIP
    >>> cluster.adapt(minimum=1, maximum=10)  # doctest: +SKIP
    """

    def __init__(
        self,
        release_name: str,
        namespace: str | None = None,
        port_forward_cluster_ip: bool | None = None,
        scheduler_name: str = "scheduler",
        worker_name: str = "worker",
        node_host: str | None = None,
        node_port: int | None = None,
        name: str | None = None,
        scheduler_timeout: float = SCHEDULER_TIMEOUT,
        loop: Any = None,
        asynchronous: bool = False,
        **kwargs: Any,
    ) -> None:
        self.release_name = release_name
        self.namespace = namespace
        self.port_forward_cluster_ip = port_forward_cluster_ip
        self.scheduler_name = scheduler_name
        self.worker_name = worker_name
        self.node_host = node_host
        self.node_port = node_port
        self.scheduler_timeout = scheduler_timeout
        self.release: HelmRelease | None = None
        self.forwarded_dashboard_port: str | None = None
        self._api: Api | None = None
        self._resolver: SchedulerAddressResolver | None = None
        self._supports_scaling = True
        self._default_name = name is None  # `<release>.<namespace>` once the namespace is known
        super().__init__(
            name=name or f"{release_name}.{namespace or 'default'}",
            loop=loop,
            asynchronous=asynchronous,
            **kwargs,
        )
        if not self.called_from_running_loop:
            self._loop_runner.start()
            try:
                self.sync(self._start)
            except BaseException:
                self._loop_runner.stop()
                raise

    def __await__(self) -> Any:
        async def _() -> HelmCluster:
            if self.status == Status.created:
                await self._start()
            return self

        return _().__await__()

    # --- start-up -------------------------------------------------------------------------

    async def _start(self) -> None:
        try:
            self._api = await connect()
            if not self.namespace:
                self.namespace = str(self._api.namespace)
                if self._default_name:
                    self.name = f"{self.release_name}.{self.namespace}"
            self.release = await read_release(self._api, self.release_name, self.namespace)
            address = await self._scheduler_address()
            try:
                await wait_for_scheduler_comm(address, self.scheduler_timeout)
            except ResourceTimeoutError as exc:
                raise SchedulerUnreachableError(
                    f"Helm release {self.release_name!r}: the scheduler did not answer ({exc})"
                ) from None
            self.scheduler_comm = rpc(address)
            await super()._start()
        except BaseException:
            await self._disconnect()
            self.status = Status.closed
            raise

    @property
    def service_name(self) -> str:
        assert self.release is not None
        return f"{self.release.fullname}-{self.scheduler_name}"

    async def _scheduler_address(self) -> str:
        assert self._api is not None and self.namespace is not None and self.release is not None
        service = await find_object(Service, self.service_name, self.namespace, self._api)
        if service is None:
            raise SchedulerUnreachableError(
                f"Helm release {self.release_name!r} has no scheduler Service "
                f"{self.service_name!r} in namespace {self.namespace!r} "
                "(installed with scheduler.enabled=false, or another scheduler_name?)"
            )
        if self.node_host and self.node_port:
            # The dashboard is on the same node, at the webui port's node port (if it has one).
            with contextlib.suppress(KubeClusterError, KeyError, TypeError):
                webui = f"{self.release.fullname}-webui"
                self.forwarded_dashboard_port = str(service_port(service, webui, node_port=True))
            return f"tcp://{self.node_host}:{self.node_port}"
        self._resolver = SchedulerAddressResolver(
            self._api,
            self.service_name,
            self.namespace,
            port_forward_cluster_ip=self.port_forward_cluster_ip,
            dns_retries=IN_CLUSTER_DNS_RETRIES if running_in_cluster() else 1,
        )
        address = await self._resolver.address(self.service_name)
        with contextlib.suppress(Exception):
            dashboard = await self._resolver.address(f"{self.release.fullname}-webui")
            self.forwarded_dashboard_port = dashboard.rsplit(":", 1)[-1]
        return address

    @property
    def dashboard_link(self) -> str:
        if self.forwarded_dashboard_port is None:
            return ""
        host = self.scheduler_address.split("://")[1].rsplit(":", 1)[0]
        return str(format_dashboard_link(host, self.forwarded_dashboard_port))

    # --- scaling -----------------------------------------------------------------------------

    def _deployment_name(self, worker_group: str | None) -> str:
        assert self.release is not None
        base = f"{self.release.fullname}-{self.worker_name}"
        return f"{base}-{worker_group}" if worker_group else base

    def scale(self, n_workers: int, worker_group: str | None = None) -> Any:
        """Set the worker Deployment (or `worker_group`'s) to `n_workers`.

        Going down, the scheduler first retires the workers it would close (their data moves to
        the others); only their pods are then removed.
        """
        return self.sync(self._scale, n_workers, worker_group)

    async def _scale(
        self, n_workers: int, worker_group: str | None = None, chosen: list[str] | None = None
    ) -> int:
        if n_workers < 0:
            raise ValueError(f"cannot scale to {n_workers} workers")
        api, namespace = await self._ready_api()
        name = self._deployment_name(worker_group)
        deployment = await get_deployment(api, name, namespace)
        if deployment is None:
            if worker_group:
                raise ValueError(f"No such worker group {worker_group!r} (Deployment {name})")
            raise SchedulerUnreachableError(f"Helm release has no worker Deployment {name!r}")
        current = int(deployment.raw["spec"].get("replicas", 0))
        if n_workers >= current:
            if n_workers > current:
                await set_replicas(api, deployment, n_workers)
            return n_workers
        return await scale_down(api, self.scheduler_comm, deployment, n_workers, chosen)

    async def _retire_workers(self, workers: list[str]) -> None:
        """Adaptive's scale-down: retire these workers (names or addresses), then their pods."""
        info = self.scheduler_info.get("workers", {})
        addresses = [a for a, w in info.items() if a in workers or str(w.get("name")) in workers]
        api, namespace = await self._ready_api()
        deployment = await get_deployment(api, self._deployment_name(None), namespace)
        if deployment is None or not addresses:
            return
        current = int(deployment.raw["spec"].get("replicas", 0))
        target = max(current - len(addresses), 0)
        await scale_down(api, self.scheduler_comm, deployment, target, addresses)

    def adapt(  # type: ignore[override]
        self, minimum: int = 0, maximum: float = float("inf"), **kwargs: Any
    ) -> Adaptive:
        """Scale the main worker Deployment with the load, retiring workers before removing them."""
        return super().adapt(Adaptive=HelmAdaptive, minimum=minimum, maximum=maximum, **kwargs)

    @property
    def plan(self) -> set[str]:
        """The connected workers: Deployments, not a worker spec, say what should exist."""
        return {str(d["name"]) for d in self.scheduler_info["workers"].values()}

    @property
    def requested(self) -> set[str]:
        return self.plan

    # --- logs ------------------------------------------------------------------------------

    def get_logs(self) -> Logs:  # type: ignore[override]
        """Logs of the release's scheduler and worker pods, keyed by pod name."""
        logs: Logs = self.sync(self._get_logs)
        return logs

    async def _get_logs(self) -> Logs:  # type: ignore[override]
        api, namespace = await self._ready_api()
        assert self.release is not None
        selector = f"release={self.release_name},app={self.release.app_label}"
        with kubernetes_errors(namespace=namespace):
            return await component_logs(api, namespace, selector, "component")

    # --- shutdown --------------------------------------------------------------------------

    async def _close(self) -> None:
        """Disconnect; the release stays (delete it with `helm uninstall`)."""
        adaptive = getattr(self, "_adaptive", None)
        if adaptive is not None:
            adaptive.stop()
        await super()._close()
        await self._disconnect()

    async def _disconnect(self) -> None:
        if self._resolver is not None:
            # Joining the port-forward thread blocks; keep the event loop serving meanwhile.
            await asyncio.to_thread(self._resolver.close)
            self._resolver = None

    async def _ready_api(self) -> tuple[Api, str]:
        if self._api is None:
            self._api = await connect()
        if not self.namespace:
            self.namespace = str(self._api.namespace)
        return self._api, self.namespace

    @classmethod
    def from_name(cls, name: str, **kwargs: Any) -> HelmCluster:
        """Connect by the name `discover` lists: `<release>.<namespace>`."""
        release_name, _, namespace = name.rpartition(".")
        if not release_name:
            raise ValueError(f"expected '<release>.<namespace>', got {name!r}")
        return cls(release_name=release_name, namespace=namespace, **kwargs)


class HelmAdaptive(Adaptive):
    """Adaptive scaling whose scale-down retires through `HelmCluster`, never by closing workers.

    distributed's own `Adaptive.scale_down` closes the retired workers; under a Deployment their
    containers would simply restart. Here the pods are removed instead.
    """

    # distributed's AdaptiveCore annotates these two the wrong way round (n vs workers).
    async def scale_down(self, workers: list[str]) -> None:  # type: ignore[override]
        if workers:
            await self._helm_cluster._retire_workers(list(workers))

    async def scale_up(self, n: int) -> None:  # type: ignore[override]
        await self._helm_cluster._scale(n)

    @property
    def _helm_cluster(self) -> HelmCluster:
        assert isinstance(self.cluster, HelmCluster)
        return self.cluster
