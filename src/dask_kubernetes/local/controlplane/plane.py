"""The control plane composed: etcd, kube-apiserver, kube-controller-manager, kube-scheduler.

Like envtest's `controlplane.ControlPlane`: fresh credentials and data in a working directory,
each component started in order and awaited on its health endpoint, an admin kubeconfig (0600) for
the caller, and `stop` ending exactly the PIDs it started, in reverse order, also when a start
fails half-way.

For a local cluster with a node (`local/real.py`) it is started from a thread inside the cluster's
network namespace, with `address` the node address: the API server listens there, the controller
manager allocates node pod CIDRs, and `ca` stays available to issue the node's identities.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType

from dask_kubernetes.local.controlplane.apiserver import APIServer
from dask_kubernetes.local.controlplane.audit import apiserver_flags as audit_flags
from dask_kubernetes.local.controlplane.audit import log_path as audit_log_path
from dask_kubernetes.local.controlplane.controller_manager import ControllerManager
from dask_kubernetes.local.controlplane.etcd import Etcd
from dask_kubernetes.local.controlplane.process import LOOPBACK, Process, TLSClient
from dask_kubernetes.local.controlplane.scheduler import Scheduler
from dask_kubernetes.local.credentials.kubeconfig import client_kubeconfig
from dask_kubernetes.local.credentials.pki import (
    API_SERVER_NAMES,
    SERVICE_IP,
    Authority,
    Pair,
    service_account_keys,
)

ADMIN_GROUP = "system:masters"
# The identity the API server presents to kubelets; a kubelet accepts no other client.
KUBELET_CLIENT_NAME = "kube-apiserver-kubelet-client"


class ControlPlane:
    """`start()` it (or `with ControlPlane(bin_dir) as plane:`), then use `admin_kubeconfig`."""

    def __init__(
        self,
        binaries: Path,
        directory: Path | None = None,
        *,
        timeout: float = 180.0,
        address: str = LOOPBACK,
        port: int | None = None,
        cluster_cidr: str | None = None,
        env: dict[str, str] | None = None,
        audit: bool = False,
    ) -> None:
        self.binaries = binaries
        self.address = address
        self.port = port
        self.cluster_cidr = cluster_cidr
        self.env = env
        self.ca: Authority | None = None
        self.kubelet_client: Pair | None = None
        self._owned = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="dask-kubernetes-plane-"))
        self.timeout = timeout
        self.processes: list[Process] = []
        self.start_seconds: dict[str, float] = {}
        self.api_url = ""
        self.audit = audit  # kube-apiserver writes an audit log (`audit_log`) when set

    @property
    def audit_log(self) -> Path:
        return audit_log_path(self.directory / "audit")

    @property
    def ca_cert(self) -> Path:
        return self.directory / "pki" / "ca.crt"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    def _launch(self, name: str, argv: list[str], health_url: str, client: TLSClient) -> None:
        started = time.monotonic()
        process = Process(name, argv, self.directory / "logs" / f"{name}.log", self.env)
        self.processes.append(process)
        process.start()
        process.await_healthy(health_url, client, self.timeout)
        self.start_seconds[name] = round(time.monotonic() - started, 2)

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        pki = self.directory / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        loopback = (LOOPBACK, "localhost")
        etcd_ca = Authority.create(pki, "etcd-ca")
        etcd_client = etcd_ca.issue(
            "apiserver-etcd-client", "kube-apiserver-etcd-client", client=True
        )
        ca = self.ca = Authority.create(pki, "ca")
        admin = ca.issue(
            "admin", "dask-kubernetes-admin", organizations=(ADMIN_GROUP,), client=True
        )
        as_admin = TLSClient(ca.cert_path, admin.cert, admin.key)

        etcd = Etcd(
            self.binaries / "etcd",
            self.directory / "etcd",
            etcd_ca.cert_path,
            etcd_ca.issue("etcd-server", "etcd", server_names=loopback),
        )
        self._launch(
            "etcd",
            etcd.argv(),
            etcd.health_url,
            TLSClient(etcd_ca.cert_path, etcd_client.cert, etcd_client.key),
        )

        service_account = service_account_keys(pki)
        if self.address != LOOPBACK:
            self.kubelet_client = ca.issue(
                "apiserver-kubelet-client", KUBELET_CLIENT_NAME, client=True
            )
        apiserver = APIServer(
            self.binaries / "kube-apiserver",
            etcd.url,
            etcd_ca.cert_path,
            etcd_client,
            ca.cert_path,
            ca.issue(
                "apiserver",
                "kube-apiserver",
                server_names=tuple(
                    dict.fromkeys((LOOPBACK, self.address, SERVICE_IP, *API_SERVER_NAMES))
                ),
            ),
            service_account,
            address=self.address,
            kubelet_client=self.kubelet_client,
        )
        if self.port is not None:
            apiserver.port = self.port
        argv = apiserver.argv()
        if self.audit:
            argv += audit_flags(self.directory / "audit")
        self._launch("kube-apiserver", argv, apiserver.health_url, as_admin)
        self.api_url = apiserver.url
        client_kubeconfig(
            self.admin_kubeconfig, apiserver.url, ca.cert_path, admin, name="dask-kubernetes-plane"
        )

        def identity(name: str) -> tuple[Path, Pair]:
            """Kubeconfig as `system:NAME` and a loopback serving certificate for component NAME."""
            kubeconfig = client_kubeconfig(
                self.directory / f"{name}.kubeconfig",
                apiserver.url,
                ca.cert_path,
                ca.issue(f"{name}-client", f"system:{name}", client=True),
                name=f"system:{name}",
            )
            return kubeconfig, ca.issue(f"{name}-serving", name, server_names=loopback)

        manager = ControllerManager(
            self.binaries / "kube-controller-manager",
            *identity("kube-controller-manager"),
            ca=Pair(ca.cert_path, pki / "ca.key"),
            service_account_key=service_account.key,
            cluster_cidr=self.cluster_cidr,
        )
        self._launch("kube-controller-manager", manager.argv(), manager.health_url, as_admin)
        scheduler = Scheduler(self.binaries / "kube-scheduler", *identity("kube-scheduler"))
        self._launch("kube-scheduler", scheduler.argv(), scheduler.health_url, as_admin)

    def stop(self) -> None:
        """Stop every process we started, last first; then remove the directory if we made it."""
        while self.processes:
            self.processes.pop().stop()
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
