"""Where one container node keeps its files, and the fixed addresses of the cluster's DNS.

Everything persistent lives under the cluster's state directory (`STATE/nodes/NAME/`), so removing
that directory removes the node. Sockets and containerd's runtime state go to `/run/containerd`,
which exists only in the node's own mount namespace (a tmpfs mounted there by `mountns.py`): unix
socket paths are limited to 108 bytes, a test's temporary directory is often longer, and the shim
sockets containerd puts under `/run/containerd/s/` (a path it does not let us choose) vanish with
the namespace instead of staying on the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# containerd's runtime directory, private to the node's mount namespace (see mountns.py).
RUNTIME_DIR = Path("/run/containerd")
# libcni's result cache, hard-wired to /var/lib/cni: bind-mounted from the state dir, also only
# inside the node's mount namespace.
CNI_CACHE_TARGET = Path("/var/lib/cni")
# The kubelet's root as it sees it (a bind mount of the state dir's, see mountns.py).
KUBELET_ROOT_TARGET = Path("/var/lib/kubelet")
# The cluster DNS Service's ClusterIP: the tenth address of the plane's service range
# (10.96.0.0/12), as kubeadm chooses it; reserved by creating the Service right after the plane.
CLUSTER_DNS = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
KUBELET_PORT = 10250
KUBELET_HEALTHZ_PORT = 10248
KUBE_PROXY_HEALTHZ_PORT = 10256
KUBE_PROXY_METRICS_PORT = 10249
COREDNS_PORT = 53
COREDNS_HEALTH_PORT = 8080
COREDNS_READY_PORT = 8181


@dataclass(frozen=True)
class NodeLayout:
    """The files of node `name` under `state_dir`."""

    state_dir: Path
    name: str

    @property
    def root(self) -> Path:
        return self.state_dir / "nodes" / self.name

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    # containerd
    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd" / "config.toml"

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return RUNTIME_DIR / "state"

    @property
    def containerd_socket(self) -> Path:
        return RUNTIME_DIR / "containerd.sock"

    # CNI
    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_template(self) -> Path:
        return self.root / "cni" / "10-pods.conflist.template"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def cni_cache(self) -> Path:
        return self.root / "cni" / "cache"

    # kubelet
    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet-config.yaml"

    @property
    def kubelet_kubeconfig(self) -> Path:
        return self.root / "kubelet.kubeconfig"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def volume_plugins(self) -> Path:
        return self.root / "volume-plugins"

    # kube-proxy and CoreDNS
    @property
    def kube_proxy_config(self) -> Path:
        return self.root / "kube-proxy-config.yaml"

    @property
    def kube_proxy_kubeconfig(self) -> Path:
        return self.root / "kube-proxy.kubeconfig"

    @property
    def corefile(self) -> Path:
        return self.root / "Corefile"

    @property
    def coredns_kubeconfig(self) -> Path:
        return self.root / "coredns.kubeconfig"
