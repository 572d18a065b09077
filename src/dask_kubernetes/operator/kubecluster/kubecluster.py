# mypy: disable-error-code="no-untyped-call"
# (distributed's Cluster, rpc and sync carry no annotations; everything of ours is typed.)
"""`KubeCluster`: a Dask cluster on Kubernetes, created and scaled through the Dask operator.

The class only orchestrates: manifests come from `resource_manifests`, waiting and diagnosis
from `waiting`, addresses from `networking`, Kubernetes error translation from `kr8s_api`, and
the names it shares with the operator from `dask_kubernetes.operator.vocabulary`.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures.thread  # noqa: F401  (its exit hook must be registered before ours)
import contextlib
import copy
import logging
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from distributed.core import Status, rpc
from distributed.deploy.cluster import Cluster
from distributed.utils import Logs, format_dashboard_link
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from dask_kubernetes import config
from dask_kubernetes.common.yaml import InvalidYaml, NotAMapping, load_mapping
from dask_kubernetes.operator.vocabulary import (
    DASHBOARD_PORT_NAME,
    DASK_CLUSTER,
    SCHEDULER_PORT_NAME,
    scheduler_name,
    worker_group_name,
)

from .errors import (
    ClusterExistsError,
    ClusterNotFoundError,
    DeletionUnderWay,
    KubeClusterError,
    PodPendingError,
    ValidationError,
)
from .interrupts import OwnedCluster, delete_now, protect_from_sigterm
from .kr8s_api import Api, connect, find_object, kubernetes_errors
from .logs import cluster_logs
from .networking import SchedulerAddressResolver, wait_for_scheduler_comm
from .operations import (
    adapt_cluster,
    create_worker_group,
    delete_cluster,
    delete_worker_group,
    scale_cluster,
)
from .progress import StartupProgress
from .resource_manifests import (
    make_cluster_spec,
    make_worker_spec,
    without_nulls,
)
from .resources import DaskCluster
from .security import cluster_security, connection_args, with_tls_on
from .validation import (
    CreateMode,
    expand_name,
    parse_create_mode,
    validate_cluster_name,
    validate_resources,
    validate_service_type,
    validate_worker_count,
)
from .waiting import (
    describe_stuck_pods,
    wait_for_controller,
    wait_for_scheduler_pod,
    wait_for_service,
)

logger = logging.getLogger(__name__)
# Seconds the exit hook waits for each unclosed cluster to be deleted.
REAP_TIMEOUT = 30


class KubeCluster(Cluster):
    """Launch (or connect to) a Dask cluster on Kubernetes using the Dask operator.

    Parameters match upstream dask-kubernetes' `KubeCluster`; each defaults to the
    `kubernetes.*` Dask config value of the same name.

    >>> cluster = KubeCluster(name="analysis", n_workers=4)  # doctest: +SKIP
    >>> client = Client(cluster)  # doctest: +SKIP
    """

    _instances: ClassVar[weakref.WeakSet[KubeCluster]] = weakref.WeakSet()

    def __init__(
        self,
        *,
        name: str | None = None,
        namespace: str | None = None,
        image: str | None = None,
        n_workers: int | None = None,
        resources: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | Sequence[Mapping[str, Any]] | None = None,
        worker_command: str | Sequence[str] | None = None,
        port_forward_cluster_ip: bool | None = None,
        create_mode: CreateMode | str | None = None,
        shutdown_on_close: bool | None = None,
        idle_timeout: int | None = None,
        resource_timeout: float | None = None,
        scheduler_service_type: str | None = None,
        custom_cluster_spec: str | Path | Mapping[str, Any] | None = None,
        scheduler_forward_port: int | None = None,
        jupyter: bool = False,
        loop: Any = None,
        asynchronous: bool = False,
        quiet: bool = False,
        **kwargs: Any,
    ) -> None:
        self.namespace: str | None = config.setting("namespace", namespace)
        self.image: str = config.setting("image", image)
        self.n_workers: int = validate_worker_count(config.setting("count.start", n_workers))
        if config.setting("count.max"):
            warnings.warn(
                "Setting a maximum number of workers is no longer supported. "
                "Please use Kubernetes Resource Quotas instead.",
                stacklevel=2,
            )
        self.resources: Any = config.setting("resources", resources)
        self.env: Any = config.setting("env", env)
        self.worker_command: list[str] | str = config.setting("worker-command", worker_command)
        self.port_forward_cluster_ip: bool | None = config.setting(
            "port-forward-cluster-ip", port_forward_cluster_ip
        )
        self.create_mode = parse_create_mode(config.setting("create-mode", create_mode))
        # None until start: True for a cluster we create, False for one we connect to.
        self.shutdown_on_close: bool | None = shutdown_on_close
        self._resource_timeout = float(config.setting("resource-timeout", resource_timeout))
        self.scheduler_service_type: str = config.setting(
            "scheduler-service-type", scheduler_service_type
        )
        self.scheduler_forward_port: int | None = config.setting(
            "scheduler-forward-port", scheduler_forward_port
        )
        self.jupyter: bool = bool(config.setting("scheduler-jupyter", jupyter))
        self.idle_timeout: int | None = config.setting("idle-timeout", idle_timeout)
        self._custom_cluster_spec = _load_custom_spec(
            config.setting("custom-cluster-spec", custom_cluster_spec)
        )
        if self._custom_cluster_spec is not None:
            name = self._custom_cluster_spec.get("metadata", {}).get("name")
        if isinstance(self.worker_command, str):
            self.worker_command = self.worker_command.split(" ")
        validate_resources(self.resources)
        validate_service_type(self.scheduler_service_type)
        name = expand_name(str(config.setting("name", name)))
        validate_cluster_name(name)

        self.forwarded_dashboard_port: str | None = None
        self._api: Api | None = None
        self._resolver: SchedulerAddressResolver | None = None
        self._created_here = False
        self._create_in_flight = False
        self._dask_cluster: dict[str, Any] = {}  # the DaskCluster as created or found
        self._progress = StartupProgress(name)
        self._instances.add(self)
        protect_from_sigterm(_owned_clusters)
        super().__init__(name=name, loop=loop, asynchronous=asynchronous, quiet=quiet, **kwargs)

        # Started here when synchronous; an asynchronous cluster starts on `await`/`async with`.
        if not self.called_from_running_loop:
            self._loop_runner.start()
            try:
                self.sync(self._start)
            except BaseException:
                self._delete_after_interrupted_start()
                self._loop_runner.stop()
                raise

    # --- start-up -------------------------------------------------------------------------

    def __await__(self) -> Any:
        async def _() -> KubeCluster:
            if self.status == Status.created:
                await self._start()
            return self

        return _().__await__()

    async def _start(self) -> None:
        self._api = await connect()
        if not self.namespace:
            self.namespace = str(self._api.namespace)
        self._created_here = False
        try:
            async with self._progress.shown(not self.quiet):
                with kubernetes_errors(namespace=self.namespace):
                    existing = await find_object(DaskCluster, self.name, self.namespace, self._api)
                    if existing is not None and self.create_mode == CreateMode.CREATE_ONLY:
                        raise ClusterExistsError(
                            f"A Dask cluster named {self.name!r} already exists in namespace "
                            f"{self.namespace!r} (create_mode is CREATE_ONLY)"
                        )
                    if existing is None and self.create_mode == CreateMode.CONNECT_ONLY:
                        raise ClusterNotFoundError(
                            f"No Dask cluster named {self.name!r} in namespace "
                            f"{self.namespace!r} to connect to"
                        )
                    if existing is None:
                        await self._create_cluster()
                    else:
                        self._adopt_existing(existing)
                    await self._connect_scheduler()
            await super()._start()
        except BaseException:
            await self._abandon_start(delete=self._created_here)
            raise
        self._log(f"Ready, dashboard available at {self.dashboard_link}")

    async def _create_cluster(self) -> None:
        assert self._api is not None and self.namespace is not None
        if self.shutdown_on_close is None:
            self.shutdown_on_close = True
        self._log("Creating cluster")
        manifest = self._custom_cluster_spec or make_cluster_spec(
            name=self.name,
            image=self.image,
            n_workers=self.n_workers,
            # The CRD schema rejects nulls, so unset options are sent as empty/zero values.
            resources=self.resources or {},
            env=self.env or {},
            worker_command=self.worker_command,
            scheduler_service_type=self.scheduler_service_type,
            idle_timeout=self.idle_timeout or 0,
            jupyter=self.jupyter,
        )
        cluster = await DaskCluster(
            with_tls_on(without_nulls(manifest)), namespace=self.namespace, api=self._api
        )
        # From here on a failed or interrupted start deletes it again; set before the call, as an
        # interrupted call may still land.
        self._created_here = self._create_in_flight = True
        try:
            with kubernetes_errors(namespace=self.namespace, dask_resource=True):
                await cluster.create()
        except Exception:
            self._created_here = self._create_in_flight = False  # refused: nothing of ours exists
            raise
        self._create_in_flight = False
        self._dask_cluster = cluster.raw
        self._log("Waiting for controller to action cluster")
        await wait_for_controller(
            self._api, self.name, self.namespace, self._resource_timeout, self._progress.report
        )

    def _adopt_existing(self, cluster: Any) -> None:
        """Learn an existing cluster's settings so `add_worker_group` defaults match it."""
        self._log("Connecting to existing cluster")
        if self.shutdown_on_close is None:
            self.shutdown_on_close = False
        raw = self._dask_cluster = cluster.raw
        worker = raw.get("spec", {}).get("worker", {})
        container = (worker.get("spec", {}).get("containers") or [{}])[0]
        self.image = container.get("image", self.image)
        self.n_workers = worker.get("replicas") or 0
        self.resources = container.get("resources")
        self.env = container.get("env") or {}
        scheduler = raw.get("spec", {}).get("scheduler", {}).get("spec", {})
        scheduler_args = (scheduler.get("containers") or [{}])[0].get("args") or []
        self.jupyter = "--jupyter" in scheduler_args
        self._progress.report("cluster", str(raw.get("status", {}).get("phase", "-")))

    async def _connect_scheduler(self) -> None:
        assert self._api is not None and self.namespace is not None
        report, timeout = self._progress.report, self._resource_timeout
        self._log("Waiting for scheduler pod")
        await wait_for_scheduler_pod(self._api, self.name, self.namespace, timeout, report)
        service = scheduler_name(self.name)
        self._log("Waiting for scheduler service")
        await wait_for_service(self._api, service, self.namespace, timeout, report)
        self._resolver = SchedulerAddressResolver(
            self._api,
            service,
            self.namespace,
            port_forward_cluster_ip=self.port_forward_cluster_ip,
            dns_retries=int(config.setting("scheduler-service-name-resolution-retries")),
        )
        security = await cluster_security(self._api, self._dask_cluster, timeout)
        if security is not None:
            self.security = security  # what `Client(cluster)` connects with
        address = await self._resolver.address(SCHEDULER_PORT_NAME, tls=security is not None)
        self._log("Connecting to scheduler")
        report("connection", "Connecting")
        await wait_for_scheduler_comm(address, max(timeout, 30.0), connection_args(security))
        report("connection", "Connected")
        self.scheduler_comm = rpc(address, connection_args=connection_args(security))
        self._log("Getting dashboard URL")
        local_port = int(self.scheduler_forward_port) if self.scheduler_forward_port else None
        dashboard = await self._resolver.address(DASHBOARD_PORT_NAME, local_port)
        self.forwarded_dashboard_port = dashboard.rsplit(":", 1)[-1]

    async def _abandon_start(self, *, delete: bool) -> None:
        """Undo a failed start: stop forwarding, delete what we created, mark closed."""
        with contextlib.suppress(Exception):
            await super()._close()
        if self._resolver is not None:
            # Joining the port-forward thread blocks; keep the event loop serving meanwhile.
            await asyncio.to_thread(self._resolver.close)
        if delete and self._api is not None:
            with contextlib.suppress(Exception):
                await self._delete_cluster(timeout=self._resource_timeout)
        self.status = Status.closed

    def _delete_after_interrupted_start(self) -> None:
        """Ctrl-C in a synchronous start stops the loop before `_start` deletes what it created.

        `_created_here` (not `status`, which `Cluster._close` sets to closed before the deletion
        in `_abandon_start`) says whether the deletion is still to be done.
        """
        if self._created_here:
            delete_now([self._owned()])
            self._created_here = False
            self.status = Status.closed

    def _owned(self) -> OwnedCluster:
        return OwnedCluster(self.name, str(self.namespace), in_flight=self._create_in_flight)

    def _log(self, log: str) -> None:
        """Record the step (and show it in the progress panel) without printing a line."""
        self._progress.log(log)
        self._cluster_manager_logs.append((time.time(), log))
        logger.info("%s: %s", self.name, log)

    # --- addresses and display --------------------------------------------------------------

    @property
    def dashboard_link(self) -> str:
        if self.forwarded_dashboard_port is None:
            return ""
        host = self.scheduler_address.split("://")[1].split("/")[0].rsplit(":", 1)[0]
        return str(format_dashboard_link(host, self.forwarded_dashboard_port))

    @property
    def jupyter_link(self) -> str:
        if not self.jupyter:
            raise RuntimeError("KubeCluster not started with jupyter enabled")
        return self.dashboard_link.replace("/status", "/jupyter/lab")

    def __rich__(self) -> Panel:
        table = Table(show_header=False, box=None)
        table.add_row("Namespace", str(self.namespace))
        table.add_row("Scheduler", self.scheduler_address)
        table.add_row("Dashboard", self.dashboard_link or "-")
        table.add_row("Workers", str(len(self.scheduler_info.get("workers", {}))))
        table.add_row("Status", self.status.name)
        return Panel(Group(table), title=f"KubeCluster [magenta]'{self.name}'", width=80)

    # --- scaling -----------------------------------------------------------------------------

    def scale(self, n: int, worker_group: str | None = None) -> Any:
        """Set a worker group (default: "default") to `n` workers; turns adaptivity off."""
        return self.sync(self._scale, n, worker_group)

    async def _scale(self, n: int, worker_group: str | None = None) -> None:
        api, namespace = await self._ready_api()
        await scale_cluster(api, self.name, namespace, n, worker_group)

    def adapt(self, minimum: int | None = None, maximum: int | None = None) -> Any:  # type: ignore[override]
        """Let the operator scale the default worker group between `minimum` and `maximum`."""
        return self.sync(self._adapt, minimum, maximum)

    async def _adapt(self, minimum: int | None = None, maximum: int | None = None) -> None:
        api, namespace = await self._ready_api()
        await adapt_cluster(api, self.name, namespace, minimum, maximum)

    def add_worker_group(
        self,
        name: str,
        n_workers: int = 3,
        image: str | None = None,
        resources: Mapping[str, Any] | None = None,
        worker_command: str | Sequence[str] | None = None,
        env: Mapping[str, str] | Sequence[Mapping[str, Any]] | None = None,
        custom_spec: Mapping[str, Any] | None = None,
    ) -> Any:
        """Add a `DaskWorkerGroup`; unset options default to the cluster's own."""
        return self.sync(
            self._add_worker_group,
            name=name,
            n_workers=n_workers,
            image=image,
            resources=resources,
            worker_command=worker_command,
            env=env,
            custom_spec=custom_spec,
        )

    async def _add_worker_group(
        self,
        name: str,
        n_workers: int = 3,
        image: str | None = None,
        resources: Mapping[str, Any] | None = None,
        worker_command: str | Sequence[str] | None = None,
        env: Mapping[str, str] | Sequence[Mapping[str, Any]] | None = None,
        custom_spec: Mapping[str, Any] | None = None,
    ) -> None:
        validate_resources(resources)
        validate_cluster_name(worker_group_name(self.name, name))
        worker = dict(custom_spec) if custom_spec is not None else None
        if worker is None:
            worker = make_worker_spec(
                image=image or self.image,
                n_workers=validate_worker_count(n_workers),
                resources=resources or self.resources or {},
                env=env or self.env or {},
                worker_command=worker_command or self.worker_command,
            )
        api, namespace = await self._ready_api()
        await create_worker_group(api, self.name, namespace, name, worker)

    def delete_worker_group(self, name: str) -> Any:
        """Delete a worker group added with `add_worker_group`."""
        return self.sync(self._delete_worker_group, name)

    async def _delete_worker_group(self, name: str) -> None:
        api, namespace = await self._ready_api()
        await delete_worker_group(api, self.name, namespace, name)

    async def _wait_for_workers(self, n_workers: int = 0, timeout: float | None = None) -> None:
        """As `Cluster`'s, but a timeout names the pods that are stuck and why."""
        try:
            await super()._wait_for_workers(n_workers, timeout=timeout)
        except (TimeoutError, asyncio.TimeoutError) as exc:
            api, namespace = await self._ready_api()
            stuck = await describe_stuck_pods(api, self.name, namespace)
            if stuck:
                raise PodPendingError(f"{exc}; stuck pods: " + "; ".join(stuck)) from None
            raise

    def _update_worker_status(self, op: str, msg: Any) -> None:
        """Tolerate a "remove" for a worker missing from a fresher `identity()` snapshot.

        `wait_for_workers` replaces `scheduler_info` wholesale while the status stream keeps
        running; distributed's own handler then dies on the KeyError and fails `close()`.
        """
        if op == "remove" and msg not in self.scheduler_info.get("workers", {}):
            return
        super()._update_worker_status(op, msg)

    # --- logs ------------------------------------------------------------------------------

    def get_logs(self) -> Logs:  # type: ignore[override]
        """Logs of the scheduler and worker pods, keyed by pod name."""
        logs: Logs = self.sync(self._get_logs)
        return logs

    async def _get_logs(self) -> Logs:  # type: ignore[override]
        api, namespace = await self._ready_api()
        with kubernetes_errors(namespace=namespace):
            return await cluster_logs(api, self.name, namespace)

    # --- shutdown --------------------------------------------------------------------------

    def close(self, timeout: float | None = 3600) -> Any:
        """Disconnect; delete the cluster too if this object created it (`shutdown_on_close`)."""
        if self.status == Status.closed and not self.asynchronous:
            return None
        result = self.sync(self._close, timeout=timeout)
        if not self.asynchronous:
            self._loop_runner.stop()
        return result

    async def _close(self, timeout: float | None = 3600) -> None:
        if not self.shutdown_on_close:
            self._created_here = False  # left running on purpose: no signal may delete it now
        already_closed = self.status == Status.closed
        await super()._close()
        if self._resolver is not None:
            # Joining the port-forward thread blocks; keep the event loop serving meanwhile.
            await asyncio.to_thread(self._resolver.close)
        if self.shutdown_on_close and not already_closed:
            await self._delete_cluster(timeout=timeout)

    async def _delete_cluster(self, timeout: float | None) -> None:
        api, namespace = await self._ready_api()
        if not await delete_cluster(api, self.name, namespace, timeout):
            logger.warning("DaskCluster %s was already deleted", self.name)
        self._created_here = False  # nothing of ours left to delete

    async def _ready_api(self) -> tuple[Api, str]:
        if self._api is None:
            self._api = await connect()
        if not self.namespace:
            self.namespace = str(self._api.namespace)
        return self._api, self.namespace

    # --- construction helpers --------------------------------------------------------------

    @classmethod
    def from_name(cls, name: str, **kwargs: Any) -> KubeCluster:
        """Attach to an existing cluster by name; closing it leaves the cluster running."""
        defaults: dict[str, Any] = {
            "create_mode": CreateMode.CONNECT_ONLY,
            "shutdown_on_close": False,
        }
        return cls(name=name, **(defaults | kwargs))


def _load_custom_spec(spec: str | Path | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A `custom_cluster_spec` given as a YAML path or as a dict, checked to be a DaskCluster."""
    if spec is None:
        return None
    if isinstance(spec, (str, Path)):
        try:
            loaded = load_mapping(Path(spec))
        except NotAMapping:
            raise ValidationError("custom_cluster_spec must be a DaskCluster manifest") from None
        except (OSError, InvalidYaml) as exc:
            raise ValidationError(f"cannot read custom_cluster_spec {str(spec)!r}: {exc}") from None
    else:
        loaded = copy.deepcopy(dict(spec))
    if loaded.get("kind", DASK_CLUSTER.kind) != DASK_CLUSTER.kind:
        raise ValidationError("custom_cluster_spec must be a DaskCluster manifest")
    if not loaded.get("metadata", {}).get("name"):
        raise ValidationError("custom_cluster_spec has no metadata.name")
    return loaded


def _reap_clusters() -> None:
    """At exit, delete clusters this process created and never closed, as upstream does.

    A cluster that cannot be deleted is named on stderr (never silently left running).
    """
    for cluster in list(KubeCluster._instances):
        if cluster.shutdown_on_close and cluster.status != Status.closed:
            try:
                if _loop_is_gone(cluster):
                    # An asynchronous cluster's loop was the caller's and has ended (asyncio.run
                    # returned): delete it on a loop of our own.
                    asyncio.run(_delete_unclosed(cluster.name, cluster.namespace))
                else:
                    cluster.close(timeout=REAP_TIMEOUT)
            except DeletionUnderWay as exc:  # deleted, not yet gone: say so, not "could not"
                print(f"dask-kubernetes: at exit: {exc}", file=sys.stderr)
            except Exception as exc:  # noqa: BLE001 - at exit: report it, never a traceback
                print(
                    f"dask-kubernetes: could not delete DaskCluster {cluster.name!r} at exit "
                    f"({type(exc).__name__}: {exc}); delete it with "
                    f"`dask kubernetes delete {cluster.name} -n {cluster.namespace}`",
                    file=sys.stderr,
                )


def _owned_clusters() -> list[OwnedCluster]:
    """What SIGTERM deletes: clusters created here and not yet deleted, if `shutdown_on_close`
    or not (or no longer) running, i.e. starting or being abandoned after a failed start."""
    return [
        cluster._owned()
        for cluster in list(KubeCluster._instances)
        if cluster._created_here and (cluster.shutdown_on_close or cluster.status != Status.running)
    ]


def _loop_is_gone(cluster: KubeCluster) -> bool:
    loop = getattr(cluster.loop, "asyncio_loop", None)
    return loop is None or bool(loop.is_closed())


async def _delete_unclosed(name: str, namespace: str | None) -> None:
    api = await connect()
    await delete_cluster(api, name, namespace or str(api.namespace), REAP_TIMEOUT)


# Reap while the interpreter can still run threads: `atexit` handlers run after
# concurrent.futures has refused new work ("cannot schedule new futures after interpreter
# shutdown"), which breaks the event loop's DNS lookups and so every API call. Hooks registered
# with threading run first, when the main thread ends; it is what concurrent.futures itself uses.
_register_before_thread_shutdown = getattr(threading, "_register_atexit", atexit.register)
_register_before_thread_shutdown(_reap_clusters)


__all__ = ["CreateMode", "KubeCluster", "KubeClusterError"]
