"""The process kubelet: runs the pods bound to this node as processes and reports their status.

It is a pure API client (like a real kubelet): everything it knows comes from list/watch on the API
server, and everything it does to the cluster's state goes back through the API. Services are not
its business (the network agent next to it, composed in `cluster.py`/`real.py`, does those). Two
modes:
- on the emulator (no `node_address`) it also binds pods: it is the only node and the scheduler;
- as a node of the real control plane (`node_address` given) the real scheduler binds, it watches
  just its own pods (`spec.nodeName=NAME`), keeps its Node and Lease fresh (`node.py`) and takes
  pod IPs from the podCIDR the controller manager gave its Node.
Before a pod's first process starts, `admission` decides what of it this node honours; a pod asking
for what it cannot (`hostNetwork`, `privileged`, a name that is no name...) is refused: it stays
Pending with its containers waiting (`CreateContainerConfigError`) and a Warning Event names the
field. Nothing is fetched for it and nothing runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from dask_kubernetes.local.client.api_client import (
    MERGE_PATCH,
    ApiClient,
    ApiError,
    resource_path,
)
from dask_kubernetes.local.client.informer import Informer, object_key
from dask_kubernetes.local.credentials.kubeconfig import write_kubeconfig
from dask_kubernetes.local.kubelet import admission
from dask_kubernetes.local.kubelet.admission import PodRefused
from dask_kubernetes.local.kubelet.environment import SourceData, referenced_sources
from dask_kubernetes.local.kubelet.node import NodeHeartbeat, node_info, register
from dask_kubernetes.local.kubelet.pod_host import PodHost, hand_over, pod_dir, pod_kubeconfig
from dask_kubernetes.local.kubelet.pod_runner import PodRunner
from dask_kubernetes.local.kubelet.process_scan import kill_processes_of
from dask_kubernetes.local.kubelet.shims import install_shims
from dask_kubernetes.local.network import pod_hook
from dask_kubernetes.local.network.ip_pool import AddressPool
from dask_kubernetes.operator.vocabulary import InvalidName

logger = logging.getLogger(__name__)

NODE_NAME = "local"
KUBELET_PORT = 10250
_RESYNC_SECONDS = 2.0
_RETRY_SOON = 0.2
_STOP_GRACE_SECONDS = 2.0


def _pod_path(namespace: str, name: str, sub: str | None = None) -> str:
    return resource_path("pods", name, namespace=namespace, subresource=sub)


class Kubelet:
    """Run with `await start()` / `await stop()`; `stop()` leaves no process behind."""

    def __init__(
        self,
        api_url: str,
        state_dir: Path,
        *,
        token: str | None = None,
        ca_pem: bytes | None = None,
        client_cert: tuple[Path, Path] | None = None,
        pod_cidr: str | None = None,
        node_name: str = NODE_NAME,
        node_address: str | None = None,
        external_address: str | None = None,
        kubelet_port: int = KUBELET_PORT,
    ) -> None:
        self.api_url = api_url
        self.state_dir = Path(state_dir)
        self.node_name = node_name
        self.node_address = node_address
        self.ca_pem = ca_pem
        self.client = ApiClient(api_url, token=token, ca_pem=ca_pem, client_cert=client_cert)
        self.pod_ips = AddressPool(pod_cidr) if pod_cidr else None
        self.dns_path = self.state_dir / "dns.json"
        own_pods = {"fieldSelector": f"spec.nodeName={node_name}"} if node_address else None
        self.pods = Informer(self.client, "/api/v1/pods", self._on_pod, params=own_pods)
        own_node = {"fieldSelector": f"metadata.name={node_name}"} if node_address else None
        self.nodes = Informer(self.client, "/api/v1/nodes", self._on_node, params=own_node)
        self.heartbeat: NodeHeartbeat | None = None
        if node_address is not None:
            self.heartbeat = NodeHeartbeat(
                self.client, node_name, node_address, kubelet_port, external_address
            )
        self.runners: dict[str, PodRunner] = {}
        self.identity = admission.Kubelet.current()
        self._refused: dict[str, str] = {}  # pod key -> uid of the pod refused
        self._terminating: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()
        self._dirty_event = asyncio.Event()
        self._statuses: dict[str, tuple[PodRunner, dict[str, Any]]] = {}
        self._status_event = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._host: PodHost | None = None

    def _prepare_state_dir(self) -> PodHost:
        hook_dir = self.state_dir / "hook"
        hook_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pod_hook.__file__, hook_dir / "sitecustomize.py")
        if not self.dns_path.exists():
            self.dns_path.write_text('{"hosts": {}}')
        url = urlsplit(self.api_url)
        return PodHost(
            state_dir=self.state_dir,
            shim_dir=install_shims(self.state_dir / "bin"),
            hook_dir=hook_dir,
            dns_path=self.dns_path,
            api_host=url.hostname or "127.0.0.1",
            api_port=url.port or (443 if url.scheme == "https" else 80),
            session=self.client.session,
        )

    async def start(self, timeout: float = 30.0) -> None:
        self._host = self._prepare_state_dir()
        loops = [
            self.nodes.run(),
            self.pods.run(),
            self._reconcile_loop(),
            self._status_loop(),
            self._resync_loop(),
        ]
        synced = [self.nodes.synced.wait(), self.pods.synced.wait()]
        if self.heartbeat is not None:
            await self.heartbeat.register()
            loops.append(self.heartbeat.run())
        else:
            await self._register_node()
        self._tasks.extend(asyncio.create_task(coro) for coro in loops)
        await asyncio.wait_for(asyncio.gather(*synced), timeout)

    async def _register_node(self) -> None:
        """Create this node's Node object, as a real kubelet registers itself, so `kubectl get
        nodes`, `cordon` and `drain` find it (the emulated plane: no addresses, no lease)."""
        ready = {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "the process kubelet is running pods",
        }
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "labels": {
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                },
            },
            "spec": {},
            "status": {"conditions": [ready], "nodeInfo": node_info()},
        }
        await register(self.client, node)

    def _pod_addresses(self) -> AddressPool | None:
        """The pool pod IPs come from: given, or (real node) the podCIDR of our Node."""
        if self.pod_ips is None:
            for node in self.nodes.objects.values():
                if node["metadata"]["name"] == self.node_name:
                    cidr = (node.get("spec") or {}).get("podCIDR")
                    if cidr:
                        self.pod_ips = AddressPool(cidr)
        return self.pod_ips

    def _schedulable(self) -> bool:
        """False while the node is cordoned (`kubectl cordon`/`drain`): new pods wait."""
        for node in self.nodes.objects.values():
            if node["metadata"]["name"] == self.node_name:
                return not (node.get("spec") or {}).get("unschedulable")
        return True

    # -- events -------------------------------------------------------------------------------

    def _on_pod(self, _kind: str, pod: dict[str, Any]) -> None:
        self._dirty.add(object_key(pod))
        self._dirty_event.set()

    def _on_node(self, _kind: str, _node: dict[str, Any]) -> None:
        """Uncordoned: the pods waiting for a node may be bound now."""
        self._dirty.update(self.pods.objects)
        self._dirty_event.set()

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(_RESYNC_SECONDS)
            self._dirty.update(self.pods.objects)
            self._dirty.update(self.runners)
            self._dirty_event.set()

    def _redo(self, key: str) -> None:
        self._dirty.add(key)
        self._dirty_event.set()

    async def _reconcile_loop(self) -> None:
        while True:
            await self._dirty_event.wait()
            self._dirty_event.clear()
            keys, self._dirty = self._dirty, set()
            for key in sorted(keys):
                try:
                    await self._reconcile_pod(key)
                except ApiError as exc:
                    if exc.status == 403 and self.node_address is not None:
                        # The Node authorizer learns of a binding from its own watch: a pod
                        # we already see may not be "ours" to it for a moment. Try again soon.
                        logger.debug("pod %s: %s (retrying)", key, exc)
                        asyncio.get_running_loop().call_later(_RETRY_SOON, self._redo, key)
                    else:
                        logger.warning("pod %s: %s", key, exc)
                except OSError as exc:
                    logger.warning("pod %s: %s", key, exc)
                except Exception:  # one bad pod must not stop the kubelet
                    logger.exception("pod %s: unexpected error", key)

    # -- pods ---------------------------------------------------------------------------------

    async def _reconcile_pod(self, key: str) -> None:
        pod = self.pods.objects.get(key)
        runner = self.runners.get(key)
        if key in self._terminating:
            return
        if runner is not None and (pod is None or _uid(pod) != _uid(runner.pod)):
            self._terminate(key, runner, pod=None, grace=0)
            return
        if pod is None:
            self._refused.pop(key, None)
            return
        meta, spec = pod["metadata"], pod.get("spec") or {}
        if meta.get("deletionTimestamp"):
            grace = meta.get("deletionGracePeriodSeconds")
            if grace is None:
                grace = spec.get("terminationGracePeriodSeconds", 30)
            self._terminate(key, runner, pod=pod, grace=float(grace))
        elif not spec.get("nodeName"):
            # On the real plane the scheduler binds; this node only sees its own pods anyway.
            if self.node_address is None and self._schedulable():
                await self._bind(pod)
        elif (
            spec["nodeName"] == self.node_name
            and runner is None
            and self._refused.get(key) != _uid(pod)
            and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ):
            await self._start_pod(key, pod)

    async def _bind(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
        }
        try:
            await self.client.request(
                "POST", _pod_path(meta["namespace"], meta["name"], "binding"), body=binding
            )
        except ApiError as exc:
            if exc.status == 409:
                # Already bound: our pod cache had not seen the earlier binding yet.
                return
            if exc.status not in (404, 405):
                raise
            # An API server without the binding subresource: set the node name directly.
            await self.client.request(
                "PATCH",
                _pod_path(meta["namespace"], meta["name"]),
                body={"spec": {"nodeName": self.node_name}},
                content_type=MERGE_PATCH,
            )

    async def _fetch_sources(self, pod: dict[str, Any]) -> SourceData:
        namespace = pod["metadata"]["namespace"]
        spec = pod.get("spec") or {}
        wanted: set[tuple[str, str]] = set()
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            wanted |= referenced_sources(container)
        data = SourceData()
        for kind, name in wanted:
            obj = await self.client.get(resource_path(kind, name, namespace=namespace))
            if obj is not None:
                data.objects[(kind, name)] = obj
        return data

    async def _write_pod_kubeconfig(self, host: PodHost, pod: dict[str, Any]) -> None:
        """The pod's own kubeconfig: a service-account token bound to this pod, never ours."""
        meta = pod["metadata"]
        namespace = meta["namespace"]
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [],
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta["name"],
                    "uid": _uid(pod),
                },
            },
        }
        path = resource_path("serviceaccounts", account, namespace=namespace, subresource="token")
        answer = await self.client.request("POST", path, body=request)
        write_kubeconfig(
            pod_kubeconfig(host, pod),
            self.api_url,
            token=answer["status"]["token"],
            ca_pem=self.ca_pem,
            namespace=namespace,
        )

    async def _start_pod(self, key: str, pod: dict[str, Any]) -> None:
        assert self._host is not None
        addresses = self._pod_addresses()
        if addresses is None:
            return  # no podCIDR on our Node yet: the next resync tries again
        try:
            confinements = admission.admit(pod, (str(pod_dir(self._host, pod)),), self.identity)
            sources = await self._fetch_sources(pod)
            await self._write_pod_kubeconfig(self._host, pod)
        except PodRefused as refusal:
            await self._refuse(key, pod, refusal)
            return
        except InvalidName as invalid:  # admission should have caught it: still, nothing runs
            await self._refuse(key, pod, PodRefused("spec", str(invalid)))
            return
        not_enforced = admission.unenforced(pod)
        if not_enforced:
            await self._post_event(
                key, admission.unenforced_event(pod, not_enforced, self.node_name)
            )
        user = admission.pod_user(confinements)
        if user is not None:
            hand_over(self._host, pod, *user)
        pod_ip = addresses.allocate(_uid(pod))
        runner = PodRunner(
            self._host,
            _deep_copy(pod),
            sources,
            lambda status: self._queue_status(runner, status),
            pod_ip=pod_ip,
            host_ip=self.node_address or "127.0.0.1",
            confinements=confinements,
        )
        self.runners[key] = runner
        runner.start()

    async def _refuse(self, key: str, pod: dict[str, Any], refusal: PodRefused) -> None:
        """Say why the pod will not run here: its status, and a Warning Event."""
        meta = pod["metadata"]
        logger.warning("pod %s refused: %s", key, refusal)
        await self.client.request(
            "PATCH",
            _pod_path(meta["namespace"], meta["name"], "status"),
            body={"status": admission.refused_status(pod, refusal)},
            content_type=MERGE_PATCH,
            retry_conflict=True,
        )
        self._refused[key] = _uid(pod)
        await self._post_event(key, admission.refusal_event(pod, refusal, self.node_name))

    async def _post_event(self, key: str, event: dict[str, Any]) -> None:
        namespace = event["metadata"]["namespace"]
        try:
            await self.client.request(
                "POST", resource_path("events", namespace=namespace), body=event
            )
        except ApiError as exc:  # an Event is news, not state: the pod goes on
            logger.warning("event for pod %s: %s", key, exc)

    def _terminate(
        self, key: str, runner: PodRunner | None, *, pod: dict[str, Any] | None, grace: float
    ) -> None:
        async def terminate() -> None:
            try:
                if runner is not None:
                    await runner.stop(grace)
                    if self.pod_ips is not None:
                        self.pod_ips.release(_uid(runner.pod))
                    self.runners.pop(key, None)
                    self._statuses.pop(key, None)
                if pod is not None:
                    meta = pod["metadata"]
                    with contextlib.suppress(ApiError):
                        await self.client.request(
                            "DELETE",
                            _pod_path(meta["namespace"], meta["name"]),
                            body={
                                "kind": "DeleteOptions",
                                "apiVersion": "v1",
                                "gracePeriodSeconds": 0,
                                "preconditions": {"uid": _uid(pod)},
                            },
                        )
            finally:
                self._terminating.pop(key, None)
                self._dirty.add(key)
                self._dirty_event.set()

        self._terminating[key] = asyncio.create_task(terminate(), name=f"terminate {key}")

    # -- what the kubelet API (server.py) asks -------------------------------------------------

    def pod_address(self, namespace: str, name: str) -> str | None:
        """The IP of a pod running here (port-forward connects to it)."""
        runner = self.runners.get(f"{namespace}/{name}")
        return runner.pod_ip if runner is not None else None

    def container_finished(self, namespace: str, name: str, container: str) -> bool:
        """Whether a followed log can grow no more: the pod is not running here any more, or
        that container has ended for good (an init container's log ends with it, as with a
        kubelet's, though the pod runs on)."""
        runner = self.runners.get(f"{namespace}/{name}")
        if runner is None or runner.done:
            return True
        for candidate in runner.init_containers + runner.containers:
            if candidate.name == container:
                return candidate.finished
        return True

    # -- status -------------------------------------------------------------------------------

    def _queue_status(self, runner: PodRunner, status: dict[str, Any]) -> None:
        self._statuses[runner.key] = (runner, status)
        self._status_event.set()

    async def _status_loop(self) -> None:
        while True:
            await self._status_event.wait()
            self._status_event.clear()
            pending, self._statuses = self._statuses, {}
            for key, (runner, status) in pending.items():
                if self.runners.get(key) is not runner:
                    continue
                meta = runner.pod["metadata"]
                try:
                    await self.client.request(
                        "PATCH",
                        _pod_path(meta["namespace"], meta["name"], "status"),
                        body={"status": status},
                        content_type=MERGE_PATCH,
                        retry_conflict=True,
                    )
                except ApiError as exc:
                    if exc.status != 404:
                        await self._retry_status_later(key, runner, status, exc)
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    await self._retry_status_later(key, runner, status, exc)

    async def _retry_status_later(
        self, key: str, runner: PodRunner, status: dict[str, Any], error: Exception
    ) -> None:
        logger.warning("status of %s: %s", key, error)
        self._statuses.setdefault(key, (runner, status))
        self._status_event.set()
        await asyncio.sleep(0.2)

    # -- shutdown -----------------------------------------------------------------------------

    async def stop(self, grace: float = _STOP_GRACE_SECONDS) -> None:
        """Stop watching, stop every pod (SIGTERM, then SIGKILL), reap all."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await asyncio.gather(
            *(runner.stop(grace) for runner in self.runners.values()), return_exceptions=True
        )
        for task in list(self._terminating.values()):
            task.cancel()
        await asyncio.gather(*self._terminating.values(), return_exceptions=True)
        self.runners.clear()
        kill_processes_of(self.state_dir)
        await self.client.close()


def _uid(pod: dict[str, Any]) -> str:
    meta = pod["metadata"]
    return str(meta.get("uid") or object_key(pod))


def _deep_copy(obj: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(obj)
