"""One container node composed: containerd, the kubelet, kube-proxy and (on the first node)
CoreDNS, all started from the cluster's network-namespace thread, so each runs in that namespace.

Start order: cgroup subtree and identities → cluster objects (kube-dns Service, CoreDNS RBAC, the
API server's kubelet-client binding) → containerd (its own mount namespace) → images imported →
the kubelet (joins containerd's mount namespace) → kube-proxy → CoreDNS → the Node reports Ready
(which needs the CNI config containerd renders from the podCIDR). Each step is awaited with a
deadline; a failed start stops what started. `stop()` ends the processes last-first, then
`cleanup.clean_node` kills whatever is left in the node's cgroups and mount namespace, so no
container, shim or mount survives.

Blocking code: the composer runs `start`/`stop` on the namespace's thread (`NamespaceLoop.call`).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dask_kubernetes.local.containernode import cgroups, cleanup, cni
from dask_kubernetes.local.containernode.binaries import NodeBinaries
from dask_kubernetes.local.containernode.containerd import Containerd
from dask_kubernetes.local.containernode.coredns import USER as COREDNS_USER
from dask_kubernetes.local.containernode.coredns import CoreDNSSettings
from dask_kubernetes.local.containernode.images import import_archives
from dask_kubernetes.local.containernode.kubelet import KubeletSettings
from dask_kubernetes.local.containernode.kubeproxy import KubeProxySettings
from dask_kubernetes.local.containernode.layout import NodeLayout
from dask_kubernetes.local.containernode.mountns import in_namespace_of, namespace_id
from dask_kubernetes.local.containernode.readiness import await_condition, http_ok
from dask_kubernetes.local.controlplane.process import ComponentError, Process
from dask_kubernetes.local.credentials.kubeconfig import client_kubeconfig
from dask_kubernetes.local.credentials.pki import Authority
from dask_kubernetes.local.kubelet.process_scan import STATE_DIR_MARKER

DEFAULT_SANDBOX_IMAGE = "localhost/dask-kubernetes/pause:1"  # the images build names it so
# The API server's identity towards kubelets, and the bootstrap ClusterRole (nodes/proxy, log,
# exec, metrics...) kubeadm binds it to; without it the kubelet's webhook authorizer refuses the
# API server's `kubectl logs/exec` calls.
KUBELET_API_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "dask-kubernetes:kube-apiserver-kubelet-client"},
    "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "system:kubelet-api-admin",
    },
    "subjects": [
        {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "User",
            "name": "kube-apiserver-kubelet-client",
        }
    ],
}


@dataclass
class PlaneAccess:
    """What a node needs from the plane: its URL (inside the namespace), CA, kubectl, admin."""

    api_url: str
    ca: Authority
    kubectl: Path
    admin_kubeconfig: Path
    cluster_cidr: str


@dataclass
class ContainerNode:
    binaries: NodeBinaries
    plane: PlaneAccess
    state_dir: Path
    netns: str
    name: str
    address: str
    images: list[Path] = field(default_factory=list)
    sandbox_image: str = DEFAULT_SANDBOX_IMAGE
    dns: bool = True  # CoreDNS runs with the first node only
    own_netns: str | None = None  # a further node's network namespace (`nodenet.py`)
    timeout: float = 180.0
    processes: dict[str, Process] = field(default_factory=dict)
    start_seconds: dict[str, float] = field(default_factory=dict)
    imported: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.layout = NodeLayout(self.state_dir, self.name)
        self.cgroup_root = cgroups.cgroup_root(self.netns, self.name)
        self.containerd = Containerd(
            self.binaries.bin, self.binaries.cni, self.layout, self.sandbox_image
        )
        self.env = {
            **os.environ,
            STATE_DIR_MARKER: str(self.state_dir),
            "PATH": f"{self.binaries.bin}:{os.environ.get('PATH', '/usr/sbin:/usr/bin')}",
        }

    # -- start ---------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _step(self, name: str, started: float) -> None:
        self.start_seconds[name] = round(time.monotonic() - started, 2)

    def _launch(self, name: str, argv: list[str]) -> Process:
        process = Process(name, argv, self.layout.logs / f"{name}.log", self.env)
        self.processes[name] = process
        process.start()
        return process

    def _start(self) -> None:
        layout = self.layout
        layout.root.mkdir(parents=True, exist_ok=True)
        layout.pki.mkdir(exist_ok=True)
        cgroups.create(self.cgroup_root)
        self._network_sysctls()
        identities = self._identities()
        self.apply(self._cluster_objects())

        started = time.monotonic()
        self.containerd.write_config()
        cni.write_template(layout)
        containerd = self._launch("containerd", self.containerd.argv())
        assert containerd.pid is not None
        pid = containerd.pid
        await_condition(containerd, lambda: self.containerd.serving(pid), 60, "its socket")
        cleanup.write_record(layout.root, self.cgroup_root, namespace_id(pid), self.own_netns)
        self._step("containerd", started)

        started = time.monotonic()
        if self.images:
            self.imported = import_archives(self.containerd, pid, self.images)
        self._step("images", started)

        started = time.monotonic()
        kubelet = KubeletSettings(
            self.binaries.program("kubelet"),
            layout,
            self.address,
            self.plane.ca.cert_path,
            identities["serving"],
            self.cgroup_root,
        )
        kubelet.write_config()
        process = self._launch("kubelet", in_namespace_of(pid, kubelet.argv()))
        await_condition(process, http_ok(kubelet.healthz_url), self.timeout, "healthz")
        self._step("kubelet", started)

        started = time.monotonic()
        proxy = KubeProxySettings(
            self.binaries.program("kube-proxy"), layout, self.address, self.plane.cluster_cidr
        )
        proxy.write_config()
        process = self._launch("kube-proxy", proxy.argv())
        await_condition(process, http_ok(proxy.healthz_url), self.timeout, "healthz")
        self._step("kube-proxy", started)

        if self.dns:
            started = time.monotonic()
            dns = CoreDNSSettings(self.binaries.program("coredns"), layout, self.address)
            dns.write_config()
            process = self._launch("coredns", dns.argv())
            await_condition(process, http_ok(dns.ready_url), self.timeout, "ready")
            self._step("coredns", started)

        started = time.monotonic()
        await_condition(self.processes["kubelet"], self._node_ready, self.timeout, "Node Ready")
        self._step("node ready", started)

    def _network_sysctls(self) -> None:
        """In the cluster's namespace (this thread's children are in it): forward between the
        bridge and everything else, and pass bridged frames through iptables so a pod reaching a
        Service whose endpoint sits on the same bridge gets the reply de-NATed (br_netfilter)."""
        script = (
            "echo 1 > /proc/sys/net/ipv4/ip_forward; "
            "if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then "
            "echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables; fi"
        )
        result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ComponentError(f"network sysctls: {result.stderr.strip()}")

    def _identities(self) -> dict[str, Any]:
        """Client certificates and kubeconfigs for the kubelet, kube-proxy and CoreDNS, and the
        kubelet's serving certificate, all from the plane's CA."""
        ca, layout, url = self.plane.ca, self.layout, self.plane.api_url
        node_user = f"system:node:{self.name}"
        node = ca.issue(
            f"{self.name}-kubelet-client", node_user, organizations=("system:nodes",), client=True
        )
        client_kubeconfig(layout.kubelet_kubeconfig, url, ca.cert_path, node, name=node_user)
        proxy = ca.issue(f"{self.name}-kube-proxy-client", "system:kube-proxy", client=True)
        client_kubeconfig(
            layout.kube_proxy_kubeconfig, url, ca.cert_path, proxy, name="system:kube-proxy"
        )
        if self.dns:
            dns = ca.issue(f"{self.name}-coredns-client", COREDNS_USER, client=True)
            client_kubeconfig(layout.coredns_kubeconfig, url, ca.cert_path, dns, name=COREDNS_USER)
        serving = ca.issue(
            f"{self.name}-kubelet-serving", node_user, server_names=(self.address, self.name)
        )
        return {"serving": serving}

    def _cluster_objects(self) -> list[dict[str, Any]]:
        objects: list[dict[str, Any]] = [KUBELET_API_BINDING]
        if self.dns:
            objects += CoreDNSSettings(
                self.binaries.program("coredns"), self.layout, self.address
            ).objects()
        return objects

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        """The plane's kubectl as its admin, from this thread (so inside the namespace)."""
        result = subprocess.run(
            [str(self.plane.kubectl), f"--kubeconfig={self.plane.admin_kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise ComponentError(f"kubectl {' '.join(args[:2])}: {result.stderr.strip()}")
        return result.stdout

    def apply(self, objects: list[dict[str, Any]]) -> None:
        document = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
        self.kubectl(
            "apply", "--server-side", "--field-manager=dask-kubernetes", "-f", "-", stdin=document
        )

    def _node_ready(self) -> str | None:
        try:
            status = self.kubectl(
                "get",
                "node",
                self.name,
                "-o",
                "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                timeout=20,
            )
        except (ComponentError, subprocess.TimeoutExpired) as exc:
            return str(exc)
        return None if status.strip() == "True" else f"Ready={status.strip() or 'absent'}"

    def pod_cidr(self) -> str:
        """The podCIDR the controller manager gave this Node (it has one once it is Ready)."""
        return self.kubectl("get", "node", self.name, "-o", "jsonpath={.spec.podCIDR}").strip()

    # -- stop ----------------------------------------------------------------------------------

    def stop_runtime(self) -> None:
        """Stop this node's kubelet and containerd only (a node failure; the pods keep running
        until `stop`): the node lifecycle controller then sees it go NotReady."""
        for name in ("kubelet", "containerd"):
            process = self.processes.pop(name, None)
            if process is not None:
                process.stop()

    def stop(self) -> None:
        """kube-proxy, CoreDNS and the kubelet first (no container is restarted meanwhile), then
        every container by cgroup, then containerd; the mount namespace dies with its last
        process; the cgroup subtree is removed."""
        for name in ("coredns", "kube-proxy", "kubelet"):
            process = self.processes.pop(name, None)
            if process is not None:
                process.stop()
        cgroups.kill_and_remove(self.cgroup_root)
        process = self.processes.pop("containerd", None)
        if process is not None:
            process.stop()
        for process in self.processes.values():
            process.stop()
        self.processes.clear()
        cleanup.clean_node(self.layout.root)
        cgroups.kill_and_remove(self.cgroup_root)
