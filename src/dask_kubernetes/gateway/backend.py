"""`OperatorBackend`: dask-gateway-server's backend on the dask-kubernetes operator.

Each gateway cluster is a DaskCluster (`manifests.daskcluster`) that our operator reconciles;
this backend creates it, scales it (its `spec.worker.replicas`, from the scheduler preload's
heartbeats) and deletes it, and learns everything else by watching the DaskClusters and their
scheduler Pods. No database: state is the custom resources plus two Secrets the DaskCluster
owns (the operator's TLS Secret, this gateway's token Secret), so a restarted gateway lists and
serves every running cluster, and replicas with the same `gateway_instance` serve the same
clusters. Routing goes through dask-gateway's bundled Go proxy (SNI routes to the schedulers,
everything else to this gateway, including the owner-only dashboards of `dashboard.py`).

Interface (traits, command, Kubernetes verbs): see the package docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections import defaultdict
from pathlib import Path
from typing import Any

from aiohttp import web
from dask_gateway_server import models
from dask_gateway_server.backends.base import Backend, ClusterConfig, PublicException
from dask_gateway_server.proxy import Proxy
from dask_gateway_server.traitlets import MemoryLimit, Type
from dask_gateway_server.utils import normalize_address
from traitlets import Float, Integer, TraitError, Unicode, default, validate

from dask_kubernetes.gateway import credentials, dashboard, limits, names, state
from dask_kubernetes.gateway import manifests as m
from dask_kubernetes.gateway.kube import GatewayKube, Informer
from dask_kubernetes.operator import vocabulary as v
from dask_kubernetes.operator.rest import ApiError, resource_path

_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
#: How long `get_cluster(wait=True)` waits for a cluster to start before answering anyway.
WAIT_SECONDS = 20.0
#: How long `get_cluster(wait=True)` waits for a cluster it has not seen yet to appear.
APPEAR_SECONDS = 5.0


class OperatorBackend(Backend):  # type: ignore[misc]
    """A dask-gateway backend whose clusters are the dask-kubernetes operator's DaskClusters."""

    cluster_config_class = Type(
        "dask_kubernetes.gateway.config.OperatorClusterConfig",
        klass="dask_gateway_server.backends.base.ClusterConfig",
        help="The cluster config class to use.",
        config=True,
    )
    namespace = Unicode(
        help="Namespace of the DaskClusters (default: the ServiceAccount's, else 'default').",
        config=True,
    )
    gateway_instance = Unicode(
        help="Label value separating gateways that share a namespace; replicas share it.",
        config=True,
    )
    heartbeat_period = Float(
        10.0, min=0.5, help="Seconds between a scheduler's heartbeats.", config=True
    )
    max_clusters_per_user = Integer(0, min=0, help="0: no limit.", config=True)
    max_cores_per_user = Float(0.0, min=0.0, help="0: no limit.", config=True)
    max_memory_per_user = MemoryLimit(0, help="Bytes (or '8 G'); 0: no limit.", config=True)

    @default("namespace")
    def _namespace_default(self) -> str:
        if _SA_NAMESPACE.exists():
            return _SA_NAMESPACE.read_text().strip()
        return "default"

    @validate("namespace", "gateway_instance")
    def _check_label(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"])
        if not v.is_label(value):
            what = proposal["trait"].name
            raise TraitError(f"OperatorBackend.{what} {value!r} is not a DNS-1123 label")
        return value

    @default("gateway_instance")
    def _instance_default(self) -> str:
        return os.environ.get("DASK_GATEWAY_INSTANCE") or "dask-gateway"

    @default("api_url")
    def _api_url_default(self) -> str:
        proxy = self.proxy
        scheme = "https" if proxy.tls_cert else "http"
        address = normalize_address(proxy.address, resolve_host=True)
        return f"{scheme}://{address}{proxy.prefix}/api"

    # --- life cycle ---------------------------------------------------------------------------

    async def setup(self, app: web.Application) -> None:
        await super().setup(app)
        v.check_label(self.namespace, "namespace")
        v.check_label(self.gateway_instance, "gateway_instance")
        self.limits = limits.UserLimits(
            int(self.max_clusters_per_user),
            float(self.max_cores_per_user),
            int(self.max_memory_per_user or 0),
        )
        self.proxy = Proxy(parent=self, log=self.log)
        await self.proxy.setup(app)
        self.kube = await GatewayKube.connect()
        self.records: dict[str, models.Cluster] = {}
        self.credentials: dict[str, state.Credentials] = {}  # by DaskCluster uid
        self.uids: dict[str, str] = {}  # cluster name -> uid of the incarnation seen
        self.routed: dict[str, str] = {}  # cluster -> scheduler address given to the proxy
        self.waiters: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.dirty: asyncio.Queue[str] = asyncio.Queue()
        selector = {"labelSelector": f"{names.INSTANCE_LABEL}={self.gateway_instance}"}
        self.clusters = Informer(
            self.kube,
            resource_path(self.namespace, v.DASK_CLUSTER.plural),
            selector,
            self._on_cluster,
        )
        pod_selector = {
            "labelSelector": f"{names.INSTANCE_LABEL}={self.gateway_instance},"
            f"{v.COMPONENT_LABEL}={v.SCHEDULER}"
        }
        self.pods = Informer(
            self.kube, resource_path(self.namespace, "pods"), pod_selector, self._on_pod
        )
        self.clusters.start()
        self.pods.start()
        self.sync_task = asyncio.ensure_future(self._sync_loop())
        await asyncio.wait_for(
            asyncio.gather(self.clusters.synced.wait(), self.pods.synced.wait()), 60
        )
        app.middlewares.append(credentials.reject_malformed)
        app.router.add_route(
            "*", dashboard.ROUTE, dashboard.make_handler(self._lookup, lambda: self.session)
        )
        self.log.info(
            "OperatorBackend: namespace %s, instance %s, %d clusters found",
            self.namespace,
            self.gateway_instance,
            len(self.clusters.objects),
        )

    async def cleanup(self) -> None:
        for informer in ("clusters", "pods"):
            if hasattr(self, informer):
                await getattr(self, informer).stop()
        if hasattr(self, "sync_task"):
            self.sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.sync_task
        if hasattr(self, "proxy"):
            await self.proxy.cleanup()
        await super().cleanup()

    # --- the watched state --------------------------------------------------------------------

    def _on_cluster(self, kind: str, obj: dict[str, Any]) -> None:
        self.dirty.put_nowait(obj["metadata"]["name"])

    def _on_pod(self, kind: str, obj: dict[str, Any]) -> None:
        cluster = (obj["metadata"].get("labels") or {}).get(v.CLUSTER_LABEL)
        if cluster:
            self.dirty.put_nowait(cluster)

    async def _sync_loop(self) -> None:
        while True:
            name = await self.dirty.get()
            try:
                await self._sync(name)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.warning("syncing cluster %s failed; retrying", name, exc_info=True)
                asyncio.get_running_loop().call_later(1.0, self.dirty.put_nowait, name)

    async def _load_credentials(self, cluster: dict[str, Any]) -> state.Credentials | None:
        meta = cluster["metadata"]
        uid = meta["uid"]
        if uid in self.credentials:
            return self.credentials[uid]
        gateway = await self.kube.get(
            resource_path(self.namespace, "secrets", names.gateway_secret_name(meta["name"]))
        )
        tls = await self.kube.get(
            resource_path(self.namespace, "secrets", v.tls_secret_name(meta["name"], uid))
        )
        if gateway is None or tls is None:
            return None
        cert, key = m.client_credentials(m.decoded(tls))
        creds = state.Credentials(m.decoded(gateway)[names.TOKEN_KEY], cert, key)
        self.credentials[uid] = creds
        return creds

    async def _sync(self, name: str) -> None:
        obj = self.clusters.objects.get(name)
        if obj is None:
            self.records.pop(name, None)
            self.credentials.pop(self.uids.pop(name, ""), None)
            await self._route(name, "")
            self.waiters.pop(name, asyncio.Event()).set()
            return
        pod = self.pods.objects.get(v.scheduler_name(name))
        self.uids[name] = obj["metadata"]["uid"]
        creds = None
        if state.phase_of(obj) == "Running" and state.pod_ip(pod):
            creds = await self._load_credentials(obj)
            if creds is None:  # a Secret is not there yet: look again shortly
                asyncio.get_running_loop().call_later(1.0, self.dirty.put_nowait, name)
        record = state.to_model(obj, pod, creds)
        self.records[name] = record
        running = record.status == models.ClusterStatus.RUNNING
        await self._route(name, record.scheduler_address if running else "")
        if record.status >= models.ClusterStatus.RUNNING:
            self.waiters[name].set()

    async def _route(self, name: str, address: str) -> None:
        if self.routed.get(name, "") == address:
            return
        if address:
            await self.proxy.add_route(kind="SNI", sni=name, target=address)
            self.routed[name] = address
        else:
            await self.proxy.remove_route(kind="SNI", sni=name)
            self.routed.pop(name, None)

    async def _lookup(self, name: str) -> models.Cluster | None:
        return await self.get_cluster(name)

    def _owned_by(self, user: str) -> list[dict[str, Any]]:
        return [
            obj
            for obj in self.clusters.objects.values()
            if m.user_of(obj) == user and state.phase_of(obj) != "Closing"
        ]

    # --- dask-gateway's Backend API -----------------------------------------------------------

    async def list_clusters(
        self, username: str | None = None, statuses: list[Any] | None = None
    ) -> list[models.Cluster]:
        wanted = set(statuses) if statuses else None
        out = []
        for record in self.records.values():
            if username is not None and record.username != username:
                continue
            if wanted is None and record.status > models.ClusterStatus.RUNNING:
                continue
            if wanted is not None and record.status not in wanted:
                continue
            out.append(record)
        return out

    async def get_cluster(self, cluster_name: str, wait: bool = False) -> models.Cluster | None:
        if not names.is_cluster_name(cluster_name):
            return None
        if wait and cluster_name not in self.records:
            # Made a moment ago, maybe by another replica: give the watch time to show it.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + APPEAR_SECONDS
            while cluster_name not in self.records and loop.time() < deadline:
                await asyncio.sleep(0.1)
        if wait and cluster_name in self.records:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.waiters[cluster_name].wait(), WAIT_SECONDS)
        return self.records.get(cluster_name)

    async def start_cluster(self, user: Any, cluster_options: dict[str, Any]) -> str:
        options, config = await self.process_cluster_options(user, cluster_options)
        try:
            config.check_image()
        except ValueError as exc:
            raise PublicException(str(exc)) from exc
        problem = limits.new_cluster_problem(
            self.limits,
            user.name,
            self._owned_by(user.name),
            float(config.scheduler_cores),
            int(config.scheduler_memory),
        )
        if problem:
            raise PublicException(problem)
        name = names.new_cluster_name()
        token = secrets.token_hex(32)
        secret_path = resource_path(self.namespace, "secrets")
        await self.kube.create(secret_path, m.gateway_secret(name, self.gateway_instance, token))
        manifest = m.daskcluster(
            name,
            username=user.name,
            instance=self.gateway_instance,
            options=options,
            config=_config_dict(config),
            api_url=self.api_url,
            heartbeat_period=float(self.heartbeat_period),
        )
        secret = resource_path(self.namespace, "secrets", names.gateway_secret_name(name))
        try:
            created = await self.kube.create_object(
                resource_path(self.namespace, v.DASK_CLUSTER.plural), manifest
            )
            await self.kube.patch(secret, m.owner_patch(created))
        except (ApiError, OSError) as exc:
            await self.kube.delete(secret)
            raise PublicException(f"cannot create the cluster: {exc}") from exc
        # Known at once, before the watch shows it: the client asks for it right away.
        self.clusters.objects.setdefault(name, created)
        self.records.setdefault(name, state.to_model(created, None, None))
        self.log.info("Created cluster %s for user %s", name, user.name)
        return name

    async def stop_cluster(self, cluster_name: str, failed: bool = False) -> None:
        if cluster_name not in self.clusters.objects:
            return  # not ours (or gone already): nothing to stop
        self.log.info("Stopping cluster %s", cluster_name)
        await self.kube.delete(resource_path(self.namespace, v.DASK_CLUSTER.plural, cluster_name))

    async def forward_message_to_scheduler(self, cluster: Any, msg: dict[str, Any]) -> None:
        if msg.get("op") == "scale":
            allowed = self._workers_allowed(cluster.name, int(msg["count"]))
            if allowed < int(msg["count"]):
                raise PublicException(
                    limits.scale_refusal(cluster.username, int(msg["count"]), allowed, self.limits)
                )
        elif msg.get("op") == "adapt" and msg.get("maximum") is not None:
            msg["maximum"] = self._workers_allowed(cluster.name, int(msg["maximum"]))
        await super().forward_message_to_scheduler(cluster, msg)

    def _workers_allowed(self, name: str, requested: int) -> int:
        obj = self.clusters.objects.get(name)
        if obj is None:
            return requested
        user = m.user_of(obj)
        others = [o for o in self._owned_by(user) if o["metadata"]["name"] != name]
        return limits.workers_allowed(self.limits, others, obj, requested)

    async def on_cluster_heartbeat(self, cluster_name: str, msg: dict[str, Any]) -> None:
        obj = self.clusters.objects.get(cluster_name)
        if obj is None:
            return
        record = self.records.get(cluster_name)
        count = int(msg["count"])
        max_workers = (record.config if record else {}).get("cluster_max_workers")
        if max_workers is not None:
            count = min(count, int(max_workers))
        count = min(count, self._workers_allowed(cluster_name, count))
        if count == m.replicas(obj):
            return
        self.log.info("Cluster %s: scaling to %d workers", cluster_name, count)
        await self.kube.patch(
            resource_path(self.namespace, v.DASK_CLUSTER.plural, cluster_name),
            {"spec": {"worker": {"replicas": count}}},
        )


def _config_dict(config: ClusterConfig) -> dict[str, Any]:
    """The resolved config as JSON-safe values (it rides in an annotation)."""
    out: dict[str, Any] = {}
    for key, value in config.to_dict().items():
        if isinstance(value, (str, int, float, bool, list, dict)) or value is None:
            out[key] = value
    return out
