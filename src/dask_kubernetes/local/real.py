"""The local cluster on the real control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and a node, in one network namespace. The node is our kubelet and the network
agent (`node="processes"`, pods as host processes), or the real kubelet with containerd, CNI,
kube-proxy and CoreDNS (`node="containers"`, `local/containernode/`).

Composition only. Everything of the cluster runs on one thread that entered the namespace
(`NamespaceLoop`): the plane's processes are started from it (a child keeps its parent thread's
namespace) and are health-checked from it, the kubelet's and the network agent's sockets are made
on it. The host reaches the API server through one forwarder whose *listening* socket is created
here in the host namespace on 127.0.0.1, while its backend connections are made from inside, to
the node address; the serving certificate names 127.0.0.1, so the printed kubeconfig works for
kubectl, helm and KubeCluster as is. Node ports are made alike by the network agent (through
`NamespaceLoop.listen_on_host`), and the node lists 127.0.0.1 as its ExternalIP.

Why a thread with setns(2) rather than a forwarder subprocess per side: one process holds both
ends of each connection (no unix-socket relay, no extra PID to track), and the kubelet and the
network agent can share the loop with the forwarder.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from pathlib import Path

from dask_kubernetes.local.client.api_client import ApiClient
from dask_kubernetes.local.containernode import cleanup as node_cleanup
from dask_kubernetes.local.containernode.binaries import NodeBinariesMissing, find_node_binaries
from dask_kubernetes.local.containernode.node import (
    DEFAULT_SANDBOX_IMAGE,
    ContainerNode,
    PlaneAccess,
)
from dask_kubernetes.local.containernode.nodenet import NodeNetwork
from dask_kubernetes.local.controlplane.plane import ADMIN_GROUP, KUBELET_CLIENT_NAME, ControlPlane
from dask_kubernetes.local.credentials.kubeconfig import AdminKubeconfig, write_kubeconfig
from dask_kubernetes.local.credentials.pki import Authority, Pair
from dask_kubernetes.local.kubelet import NODE_NAME, Kubelet
from dask_kubernetes.local.kubelet.kubelet import KUBELET_PORT
from dask_kubernetes.local.kubelet.process_scan import STATE_DIR_MARKER, kill_processes_of
from dask_kubernetes.local.kubelet.server import KubeletServer
from dask_kubernetes.local.network.forwarder import TcpForwarder
from dask_kubernetes.local.network.netns import (
    CONTAINER_NODE_ROUTES,
    HOST_ADDRESS,
    NODE_ADDRESS,
    POD_CIDR,
    NamespaceLoop,
    NetworkNamespace,
    require_root,
)
from dask_kubernetes.local.network.proxy import ServiceProxy
from dask_kubernetes.local.provision.build import BUILD_HINT, committed_versions, find_built
from dask_kubernetes.local.provision.golang import cache_roots
from dask_kubernetes.local.provision.gomod import default_modules
from dask_kubernetes.local.provision.paths import CloneNotFound
from dask_kubernetes.local.watchdog import Watchdog

logger = logging.getLogger(__name__)
API_PORT = 6443  # inside our own namespace the well-known port is always free
DEFAULT_SERVICE_ACCOUNT = "/api/v1/namespaces/default/serviceaccounts/default"
PROCESSES, CONTAINERS = "processes", "containers"
NODE_KINDS = (PROCESSES, CONTAINERS)


class RealPlaneError(Exception):
    """The real control plane cannot be used here (no root, no built binaries)."""


def cached_binaries() -> Path:
    """The bin directory of the cached build for the committed pins; never builds (~40 min) and
    needs no Go (`find_built`); `BuildError` if a binary changed since it was built."""
    try:
        modules = default_modules()
    except CloneNotFound as exc:
        raise RealPlaneError(str(exc)) from None
    roots = cache_roots()
    built = find_built(modules, roots)
    if built is None:
        kubernetes, etcd = committed_versions(modules)
        where = " or ".join(str(root) for root in roots)
        raise RealPlaneError(
            f"the control-plane binaries (Kubernetes {kubernetes}, etcd {etcd}) are not built in "
            f"{where}: run {BUILD_HINT}"
        )
    return built.directory / "bin"


class RealCluster:
    """`await start()` from any loop in the host namespace; `await stop()` undoes all of it."""

    def __init__(
        self,
        state_dir: Path,
        kubeconfig: Path,
        *,
        merge_kubeconfig: bool = False,
        port: int = 0,
        binaries: Path | None = None,
        node_name: str = NODE_NAME,
        audit: bool = False,
        node: str = PROCESSES,
        node_binaries: Path | None = None,
        images: tuple[Path, ...] = (),
        sandbox_image: str = DEFAULT_SANDBOX_IMAGE,
        nodes: int = 1,
    ) -> None:
        """`node`: "processes" (our kubelet, pods as host processes) or "containers" (the real
        kubelet with containerd; `node_binaries` their directory, default the cached build;
        `images` OCI archives imported before the kubelet starts; `sandbox_image` the pause
        image's name among them; `nodes` > 1: further container nodes, each in a network
        namespace of its own joined to the cluster's, `nodenet.py`)."""
        if nodes < 1 or (nodes > 1 and node != CONTAINERS):
            raise RealPlaneError("more than one node needs node='containers'")
        self.nodes = nodes
        if node not in NODE_KINDS:
            raise RealPlaneError(f"node must be one of {', '.join(NODE_KINDS)}, not {node!r}")
        self.node = node
        self.node_binaries = node_binaries
        self.images = images
        self.sandbox_image = sandbox_image
        self.container_nodes: list[ContainerNode] = []
        # Further nodes: each with its network (namespace + veth) and the loop inside it.
        self.further_nodes: list[tuple[ContainerNode, NamespaceLoop, NodeNetwork]] = []
        self.state_dir = state_dir
        self.audit = audit  # kube-apiserver's audit log (`plane.audit_log`), e.g. for the benches
        self.kubeconfig = AdminKubeconfig(kubeconfig, merge=merge_kubeconfig)
        self.port = port
        self.binaries = binaries
        self.node_name = node_name
        self.namespace: NetworkNamespace | None = None
        self.node_loop: NamespaceLoop | None = None
        self.plane: ControlPlane | None = None
        self.kubelet: Kubelet | None = None
        self.kubelet_server: KubeletServer | None = None
        self.proxy: ServiceProxy | None = None
        self.forwarder: TcpForwarder | None = None
        self.admin: Pair | None = None
        self._watchdog: Watchdog | None = None
        self.url = ""
        self.start_seconds: dict[str, float] = {}  # plane, node, default service account

    async def start(self) -> None:
        require_root()
        binaries = self.binaries or cached_binaries()
        if self.node == CONTAINERS:
            try:
                node_binaries = find_node_binaries(self.node_binaries)
            except NodeBinariesMissing as exc:
                raise RealPlaneError(str(exc)) from None
            self.namespace = NetworkNamespace.create(
                local_routes=CONTAINER_NODE_ROUTES, addresses=(f"{NODE_ADDRESS}/32",)
            )
        else:
            self.namespace = NetworkNamespace.create()
        self._watchdog = Watchdog(self.state_dir, self.namespace.name)
        await self._watchdog.start()
        self.node_loop = NamespaceLoop(self.namespace)
        self.node_loop.start()
        plane = self.plane = ControlPlane(
            binaries,
            self.state_dir / "plane",
            address=NODE_ADDRESS,
            port=API_PORT,
            cluster_cidr=POD_CIDR,
            env={**os.environ, STATE_DIR_MARKER: str(self.state_dir)},
            audit=self.audit,
        )
        started = time.monotonic()
        await self.node_loop.call(plane.start)
        self.start_seconds["plane"] = round(time.monotonic() - started, 2)
        started = time.monotonic()
        ca = plane.ca
        assert ca is not None and plane.kubelet_client is not None
        ca_pem = ca.cert_path.read_bytes()
        if self.node == CONTAINERS:
            node = ContainerNode(
                node_binaries,
                PlaneAccess(
                    plane.api_url, ca, binaries / "kubectl", plane.admin_kubeconfig, POD_CIDR
                ),
                self.state_dir,
                self.namespace.name,
                self.node_name,
                NODE_ADDRESS,
                images=list(self.images),
                sandbox_image=self.sandbox_image,
            )
            self.container_nodes.append(node)
            await self.node_loop.call(node.start)
            self.start_seconds.update({f"node {k}": v for k, v in node.start_seconds.items()})
            for index in range(1, self.nodes):
                await self._start_further_node(index, node)
        else:
            await self._start_process_node(plane, ca, ca_pem)
        # The host's door: listening in the host namespace, connecting from inside.
        listener = socket.create_server((HOST_ADDRESS, self.port))
        self.forwarder = TcpForwarder(
            HOST_ADDRESS, 0, lambda: (NODE_ADDRESS, API_PORT), sock=listener
        )
        await self.node_loop.run(self.forwarder.start())
        self.url = f"https://{HOST_ADDRESS}:{listener.getsockname()[1]}"
        self.admin = ca.issue(
            "local-admin", "kubernetes-admin", organizations=(ADMIN_GROUP,), client=True
        )
        self.kubeconfig.write(self.url, ca_pem=ca_pem, client_certificate=self.admin.read())
        self.start_seconds["node"] = round(time.monotonic() - started, 2)
        started = time.monotonic()
        await self.node_loop.run(self._await_default_service_account(ca_pem, timeout=60.0))
        self.start_seconds["default service account"] = round(time.monotonic() - started, 2)

    async def _start_further_node(self, index: int, first: ContainerNode) -> None:
        """Node `index` in a network namespace of its own; its pods routed from the cluster's."""
        assert self.namespace is not None
        network = NodeNetwork(self.namespace, index)
        namespace = network.create()
        loop = NamespaceLoop(namespace)
        node = ContainerNode(
            first.binaries,
            first.plane,
            self.state_dir,
            self.namespace.name,
            f"{self.node_name}-{index + 1}",
            network.address,
            images=list(self.images),
            sandbox_image=self.sandbox_image,
            dns=False,
            own_netns=namespace.name,
        )
        self.further_nodes.append((node, loop, network))  # from here, stop() undoes it
        loop.start()
        started = time.monotonic()
        await loop.call(node.start)
        network.route_pods(await loop.call(node.pod_cidr))
        self.start_seconds[f"node {node.name}"] = round(time.monotonic() - started, 2)

    async def _start_process_node(self, plane: ControlPlane, ca: Authority, ca_pem: bytes) -> None:
        """Our kubelet, its API and the Python kube-proxy (`node="processes"`)."""
        assert self.node_loop is not None
        node_user = f"system:node:{self.node_name}"
        node_client = ca.issue(
            "node-client", node_user, organizations=("system:nodes",), client=True
        )
        self.kubelet = Kubelet(
            plane.api_url,
            self.state_dir,
            ca_pem=ca_pem,
            client_cert=(node_client.cert, node_client.key),
            node_name=self.node_name,
            node_address=NODE_ADDRESS,
            external_address=HOST_ADDRESS,
        )
        await self.node_loop.run(self.kubelet.start())
        serving = ca.issue(
            "kubelet-serving", node_user, server_names=(NODE_ADDRESS, self.node_name)
        )
        self.kubelet_server = KubeletServer(
            self.state_dir,
            NODE_ADDRESS,
            KUBELET_PORT,
            serving=(serving.cert, serving.key),
            ca=ca.cert_path,
            allowed_clients=frozenset({KUBELET_CLIENT_NAME}),
            pod_address=self.kubelet.pod_address,
            finished=self.kubelet.container_finished,
        )
        await self.node_loop.run(self.kubelet_server.start())
        proxy_client = ca.issue("kube-proxy-client", "system:kube-proxy", client=True)
        self.proxy = ServiceProxy(
            plane.api_url,
            ca_pem=ca_pem,
            client_cert=(proxy_client.cert, proxy_client.key),
            dns_path=self.kubelet.dns_path,
            listen_on_host=self.node_loop.listen_on_host,
        )
        await self.node_loop.run(self.proxy.start())

    def admin_kubeconfig(self, path: Path) -> Path:
        """Another kubeconfig (0600) for the host side with the admin's certificate, e.g. for the
        operator process: it reaches schedulers through the API server's services/proxy."""
        assert self.admin is not None and self.plane is not None and self.plane.ca is not None
        return write_kubeconfig(
            path,
            self.url,
            ca_pem=self.plane.ca.cert_path.read_bytes(),
            client_certificate=self.admin.read(),
        )

    async def _await_default_service_account(self, ca_pem: bytes, *, timeout: float) -> None:
        """Ready means pods can be created: the service-account controller has made `default`
        (the ServiceAccount admission refuses pods in a namespace without it)."""
        assert self.plane is not None and self.admin is not None
        client = ApiClient(
            self.plane.api_url, ca_pem=ca_pem, client_cert=(self.admin.cert, self.admin.key)
        )
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while await client.get(DEFAULT_SERVICE_ACCOUNT) is None:
                if asyncio.get_running_loop().time() > deadline:
                    raise RealPlaneError(f"no default ServiceAccount after {timeout:.0f}s")
                await asyncio.sleep(0.1)
        finally:
            await client.close()

    async def stop(self) -> None:
        """Stop what started, last first; kill stragglers by marker; remove the namespace."""
        loop = self.node_loop
        if loop is not None:
            for stoppable in (self.forwarder, self.proxy, self.kubelet_server, self.kubelet):
                if stoppable is not None:
                    try:
                        await asyncio.wait_for(loop.run(stoppable.stop()), 30)
                    except Exception as exc:  # noqa: BLE001 - keep tearing down the rest
                        logger.warning("stopping %s: %s", type(stoppable).__name__, exc)
            while self.further_nodes:
                further, further_loop, network = self.further_nodes.pop()
                try:
                    await further_loop.call(further.stop)
                except Exception as exc:  # noqa: BLE001 - keep tearing down the rest
                    logger.warning("stopping node %s: %s", further.name, exc)
                await asyncio.to_thread(further_loop.stop)
                network.delete()
            while self.container_nodes:
                node = self.container_nodes.pop()
                try:
                    await loop.call(node.stop)
                except Exception as exc:  # noqa: BLE001 - keep tearing down the rest
                    logger.warning("stopping node %s: %s", node.name, exc)
            if self.plane is not None:
                await loop.call(self.plane.stop)
            await asyncio.to_thread(loop.stop)
        self.forwarder = self.proxy = self.kubelet_server = self.kubelet = None
        self.plane = self.node_loop = None
        kill_processes_of(self.state_dir)
        try:  # containers, shims, cgroups of a node that failed; never skips what follows
            node_cleanup.clean(self.state_dir)
        except OSError as exc:
            logger.warning("cleaning the container nodes: %s", exc)
        if self.namespace is not None:
            self.namespace.delete()
            self.namespace = None
        if self._watchdog is not None:
            await self._watchdog.stop()
            self._watchdog = None
        self.kubeconfig.remove()
