"""`LocalKubernetes`: a local cluster on either control plane, and (optionally) the operator.

`control_plane="emulated"` (the default) hands the cluster to `emulated.EmulatedCluster` (our API
server emulator and its controllers, the kubelet as the node, the network agent);
`control_plane="real"` to `real.RealCluster` (the real etcd, API server, controller manager and
scheduler with our kubelet as a node, in a network namespace; root only). This module adds the
operator as a host process (its CRDs, identity and RBAC as each plane grants them), the state
directory, and the two ways to run it all.

One asyncio loop holds the API server and the kubelet: the caller's loop with `async with`, or a
background thread with `with`, so tests and the CLI get the same cluster either way. Stopping stops
every process the stand-in started, whatever state it is in.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import shutil
import tempfile
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from dask_kubernetes.common.standin_marks import CONTEXT_NAME, STATE_DIR_PREFIX
from dask_kubernetes.local.apiserver import APIServer
from dask_kubernetes.local.apiserver.auth import service_account_user
from dask_kubernetes.local.controlplane import operator_chart
from dask_kubernetes.local.emulated import EmulatedCluster
from dask_kubernetes.local.kubelet import Kubelet
from dask_kubernetes.local.kubelet.process_scan import kill_processes_of
from dask_kubernetes.local.network.address_plan import AddressPlan
from dask_kubernetes.local.network.agent import NetworkAgent
from dask_kubernetes.local.operator_process import OperatorProcess, install_operator_crds
from dask_kubernetes.local.real import RealCluster

T = TypeVar("T")
CONTROL_PLANES = ("emulated", "real")
OPERATOR_USER = service_account_user("dask-operator", "dask-kubernetes-operator")


class LocalKubernetesError(Exception):
    """The stand-in cannot start as asked (e.g. the operator is not installed)."""


class LocalKubernetes:
    """A local Kubernetes cluster: `with LocalKubernetes() as k8s: ... k8s.kubeconfig ...`."""

    def __init__(
        self,
        state_dir: str | Path | None = None,
        *,
        operator: bool = False,
        kubeconfig: str | Path | None = None,
        port: int = 0,
        tls: bool = True,
        control_plane: str = "emulated",
        binaries: str | Path | None = None,
        audit: bool = False,
        node: str = "processes",
        node_binaries: str | Path | None = None,
        images: tuple[str | Path, ...] = (),
        sandbox_image: str | None = None,
        nodes: int = 1,
    ) -> None:
        """`audit` asks the real plane's kube-apiserver for its audit log (the emulator always
        keeps one); `binaries` is the real plane's bin directory (default: the cached build).
        On the real plane, `node="containers"` runs the real kubelet with containerd instead of
        our process kubelet (`node_binaries`, `images` to import, `sandbox_image`: see
        `RealCluster`)."""
        if node != "processes" and control_plane != "real":
            raise LocalKubernetesError("node='containers' needs control_plane='real'")
        self.node = node
        self.node_binaries = Path(node_binaries) if node_binaries is not None else None
        self.images = tuple(Path(image) for image in images)
        self.sandbox_image = sandbox_image
        self.nodes = nodes
        if control_plane not in CONTROL_PLANES:
            raise LocalKubernetesError(
                f"control_plane must be one of {', '.join(CONTROL_PLANES)}, not {control_plane!r}"
            )
        self.control_plane = control_plane
        self.binaries = Path(binaries) if binaries is not None else None
        self.audit = audit
        self.real: RealCluster | None = None
        self._owns_state_dir = state_dir is None
        base = tempfile.mkdtemp(prefix=STATE_DIR_PREFIX) if state_dir is None else state_dir
        self.state_dir = Path(base).resolve()
        self._kubeconfig_target = Path(kubeconfig).expanduser() if kubeconfig else None
        self.kubeconfig = str(self._kubeconfig_target or self.state_dir / "kubeconfig")
        self.port = port
        self.tls = tls
        self.operator = operator
        self.emulated: EmulatedCluster | None = None
        self._operator_process: OperatorProcess | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False

    @property
    def url(self) -> str:
        if self.real is not None:
            return self.real.url
        if self.emulated is None or self.emulated.api_server is None:
            raise RuntimeError("the stand-in is not started")
        return self.emulated.url

    # The emulated plane's parts, for tests and benches (None on the real plane).
    @property
    def api_server(self) -> APIServer | None:
        return self.emulated.api_server if self.emulated else None

    @property
    def kubelet(self) -> Kubelet | None:
        return self.emulated.kubelet if self.emulated else None

    @property
    def network(self) -> NetworkAgent | None:
        return self.emulated.network if self.emulated else None

    @property
    def plan(self) -> AddressPlan | None:
        return self.emulated.plan if self.emulated else None

    @property
    def context(self) -> str:
        return CONTEXT_NAME

    # -- async lifecycle ----------------------------------------------------------------------

    async def start(self) -> LocalKubernetes:
        if self.operator and importlib.util.find_spec("dask_kubernetes.operator") is None:
            if self._owns_state_dir:
                shutil.rmtree(self.state_dir, ignore_errors=True)
            raise LocalKubernetesError(
                "operator=True but dask_kubernetes.operator is not installed in this environment"
            )
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._started = True
        try:
            if self.control_plane == "real":
                self.real = RealCluster(
                    self.state_dir,
                    Path(self.kubeconfig),
                    merge_kubeconfig=self._kubeconfig_target is not None,
                    port=self.port,
                    binaries=self.binaries,
                    audit=self.audit,
                    node=self.node,
                    node_binaries=self.node_binaries,
                    nodes=self.nodes,
                    images=self.images,
                    **({"sandbox_image": self.sandbox_image} if self.sandbox_image else {}),
                )
                await self.real.start()
                if self.operator:
                    await self._start_real_operator(self.real)
            else:
                self.emulated = EmulatedCluster(
                    self.state_dir,
                    Path(self.kubeconfig),
                    merge_kubeconfig=self._kubeconfig_target is not None,
                    port=self.port,
                    tls=self.tls,
                )
                await self.emulated.start()
                if self.operator:
                    await self._start_emulated_operator(self.emulated)
        except BaseException:
            await self.stop()
            raise
        return self

    async def _start_emulated_operator(self, emulated: EmulatedCluster) -> None:
        """The operator as a host process with a token of its own; its CRDs installed first."""
        server = emulated.api_server
        assert server is not None
        await install_operator_crds(self.url, token=server.admin_token, ca_pem=server.ca_pem)
        kubeconfig = emulated.kubeconfig_for(OPERATOR_USER, self.state_dir / "operator-kubeconfig")
        self._operator_process = OperatorProcess(str(kubeconfig), self.state_dir)
        await self._operator_process.start()

    async def _start_real_operator(self, real: RealCluster) -> None:
        """The operator as a host process under exactly the chart's RBAC: its CRDs and RBAC
        applied, its kubeconfig a ServiceAccount token (`operator_chart.install`)."""
        assert real.plane is not None
        admin = real.admin_kubeconfig(self.state_dir / "admin-kubeconfig")
        kubeconfig = self.state_dir / "operator-kubeconfig"
        await asyncio.to_thread(
            operator_chart.install,
            real.plane.binaries / "kubectl",
            admin,
            real.url,
            real.plane.ca_cert,
            kubeconfig,
        )
        self._operator_process = OperatorProcess(str(kubeconfig), self.state_dir)
        await self._operator_process.start()

    def kubeconfig_for(self, user: str, path: Path) -> Path:
        """A kubeconfig (mode 0600) with a token of its own for `user`, so the audit log
        (and fault injection) can tell that client's requests from everyone else's."""
        if self.emulated is None or self.emulated.api_server is None:
            raise LocalKubernetesError("the stand-in's API server is not running")
        return self.emulated.kubeconfig_for(user, path)

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self._operator_process is not None:
            await self._operator_process.stop()
            self._operator_process = None
        if self.real is not None:
            await self.real.stop()
            self.real = None
        if self.emulated is not None:
            await self.emulated.stop()  # kept: its API server's audit stays readable after stop
        kill_processes_of(self.state_dir)
        if self._owns_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    async def __aenter__(self) -> LocalKubernetes:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- sync lifecycle (loop in a background thread) -----------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result()

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the stand-in's loop (sync mode), e.g. to reach `api_server`."""
        return self._run(coro)

    def __enter__(self) -> LocalKubernetes:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="dask-kubernetes-local", daemon=True
        )
        self._thread.start()
        try:
            self._run(self.start())
        except BaseException:
            self._close_loop()
            raise
        atexit.register(self.close)
        return self

    def close(self) -> None:
        """Stop everything (sync mode); safe to call twice."""
        if self._loop is None:
            return
        try:
            self._run(self.stop())
        finally:
            self._close_loop()
            atexit.unregister(self.close)

    def _close_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None

        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await loop.shutdown_asyncgens()

        asyncio.run_coroutine_threadsafe(drain(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.url if self._started and (self.api_server or self.real) else "stopped"
        return f"<LocalKubernetes {where} state_dir={self.state_dir}>"
