"""The local cluster on the emulated control plane: our API server and its controllers, the
kubelet as the node, the network agent; side by side with `real.py`, which composes the real one.

Composition only: each component is its package's (`apiserver/`, `controllers/`, `kubelet/`,
`network/`); this module decides the order, the identities and the addresses. The controllers are
started here, beside the API server, as kube-controller-manager runs beside kube-apiserver.
"""

from __future__ import annotations

from pathlib import Path

from dask_kubernetes.local.apiserver import APIServer
from dask_kubernetes.local.apiserver.auth import node_user
from dask_kubernetes.local.controllers.manager import ControllerManager
from dask_kubernetes.local.credentials.kubeconfig import AdminKubeconfig, write_kubeconfig
from dask_kubernetes.local.kubelet import NODE_NAME, Kubelet
from dask_kubernetes.local.kubelet.process_scan import kill_processes_of
from dask_kubernetes.local.network.address_plan import AddressClaim, AddressPlan
from dask_kubernetes.local.network.agent import PROXY_USER, NetworkAgent
from dask_kubernetes.local.watchdog import Watchdog


class EmulatedCluster:
    """`await start()` on any loop; `await stop()` undoes all of it, whatever started."""

    def __init__(
        self,
        state_dir: Path,
        kubeconfig: Path,
        *,
        merge_kubeconfig: bool = False,
        port: int = 0,
        tls: bool = True,
    ) -> None:
        self.state_dir = state_dir
        self.kubeconfig = AdminKubeconfig(kubeconfig, merge=merge_kubeconfig)
        self.port = port
        self.tls = tls
        self.plan: AddressPlan | None = None
        self.api_server: APIServer | None = None
        self.controllers: ControllerManager | None = None
        self.kubelet: Kubelet | None = None
        self.network: NetworkAgent | None = None
        self._claim: AddressClaim | None = None
        self._watchdog: Watchdog | None = None

    @property
    def url(self) -> str:
        if self.api_server is None:
            raise RuntimeError("the emulated control plane is not started")
        return self.api_server.url

    async def start(self) -> None:
        self._claim = AddressClaim.acquire()
        self.plan = self._claim.plan
        server = self.api_server = APIServer(
            host="127.0.0.1",
            port=self.port,
            state_dir=self.state_dir,
            service_cidr=self.plan.service_cidr,
            tls=self.tls,
        )
        self._watchdog = Watchdog(self.state_dir)
        await self._watchdog.start()
        await server.start()
        self.controllers = ControllerManager(server.objects)
        self.controllers.start()
        ca_pem = server.ca_pem
        self.kubeconfig.write(self.url, token=server.admin_token, ca_pem=ca_pem)
        self.kubelet = Kubelet(
            self.url,
            self.state_dir,
            token=server.auth.issue(node_user(NODE_NAME)),
            ca_pem=ca_pem,
            pod_cidr=self.plan.pod_cidr,
        )
        await self.kubelet.start()
        self.network = NetworkAgent(
            self.url,
            token=server.auth.issue(PROXY_USER),
            ca_pem=ca_pem,
            dns_path=self.kubelet.dns_path,
            load_balancer_cidr=self.plan.load_balancer_cidr,
        )
        await self.network.start()

    def kubeconfig_for(self, user: str, path: Path) -> Path:
        """A kubeconfig (mode 0600) with a token of its own for `user`, so the audit log
        (and fault injection) can tell that client's requests from everyone else's."""
        server = self.api_server
        if server is None:
            raise RuntimeError("the emulated control plane is not started")
        return write_kubeconfig(path, self.url, token=server.auth.issue(user), ca_pem=server.ca_pem)

    async def stop(self) -> None:
        """Stop what started, last first; kill stragglers by marker."""
        if self.network is not None:
            await self.network.stop()
            self.network = None
        if self.kubelet is not None:
            await self.kubelet.stop()
            self.kubelet = None
        if self.api_server is not None:
            await self.api_server.stop()
        if self.controllers is not None:
            await self.controllers.stop()
            self.controllers = None
        kill_processes_of(self.state_dir)
        if self._watchdog is not None:
            await self._watchdog.stop()
            self._watchdog = None
        if self._claim is not None:
            self._claim.release()
            self._claim = None
        self.kubeconfig.remove()
