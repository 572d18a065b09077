"""The real kubelet for one node: its KubeletConfiguration and command line.

Settings, each for a reason:
- `failCgroupV1: false`: since Kubernetes 1.35 the kubelet refuses to start on a cgroup v1 host
  unless told otherwise, and this host mounts cgroup v1 (one hierarchy per controller). The
  kubelet still runs pods here; cgroup v1 is in maintenance upstream, so this is said, not hidden.
- `cgroupDriver: cgroupfs` (no systemd here; containerd's runc is set to match), `cgroupRoot` the
  node's own subtree (`cgroups.py`), `cgroupsPerQOS` on: memory limits and OOM kills are the
  kernel's, per container.
- Authentication: anonymous off, x509 client certificates from the plane's CA (the API server
  presents `kube-apiserver-kubelet-client`), webhook (TokenReview) on; authorization by webhook
  (SubjectAccessReview), so only identities RBAC allows may exec, read logs or port-forward.
- Serving certificate: issued by the plane's CA for the node address and name (no TLS bootstrap,
  no rotation: the cluster lives for one run).
- Its kubeconfig: a client certificate `system:node:NAME` / `system:nodes`, so the Node authorizer
  and NodeRestriction apply to it as to any kubelet.
- No `staticPodPath` (no static pods: the plane runs as processes, not as manifests).
- `clusterDNS` 10.96.0.10 / `cluster.local` (CoreDNS, `coredns.py`); `resolvConf: ""`: there is
  no upstream DNS inside the cluster's namespace to hand to pods.
- Eviction thresholds low (nodefs/imagefs 1%, memory 100Mi): the host's disk is shared with other
  work, and DiskPressure from someone else's files must not evict our pods. `failSwapOn: false`
  in case the host has swap (it has none today).
- Every path it writes (`--root-dir`, `podLogsDir`, `volumePluginDir`) under the node's directory;
  the root is seen as /var/lib/kubelet inside the node's mount namespace (a bind mount), so its
  unix sockets fit in 108 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dask_kubernetes.local.containernode.layout import (
    CLUSTER_DNS,
    CLUSTER_DOMAIN,
    KUBELET_HEALTHZ_PORT,
    KUBELET_PORT,
    KUBELET_ROOT_TARGET,
    NodeLayout,
)
from dask_kubernetes.local.credentials.pki import Pair


@dataclass
class KubeletSettings:
    binary: Path
    layout: NodeLayout
    address: str  # the node's address in the cluster's network namespace
    ca: Path  # the plane's cluster CA (client certificates are verified against it)
    serving: Pair
    cgroup_root: str

    def config(self) -> dict[str, Any]:
        layout = self.layout
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": self.address,
            "port": KUBELET_PORT,
            "readOnlyPort": 0,
            "healthzBindAddress": self.address,
            "healthzPort": KUBELET_HEALTHZ_PORT,
            "tlsCertFile": str(self.serving.cert),
            "tlsPrivateKeyFile": str(self.serving.key),
            "rotateCertificates": False,
            "serverTLSBootstrap": False,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.ca)},
            },
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": self.cgroup_root,
            "cgroupsPerQOS": True,
            "failCgroupV1": False,
            "failSwapOn": False,
            "clusterDNS": [CLUSTER_DNS],
            "clusterDomain": CLUSTER_DOMAIN,
            "resolvConf": "",
            "podLogsDir": str(layout.pod_logs),
            "volumePluginDir": str(layout.volume_plugins),
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "nodefs.inodesFree": "1%",
                "imagefs.available": "1%",
            },
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False,
            "maxPods": 110,
            "nodeStatusUpdateFrequency": "10s",
            "nodeLeaseDurationSeconds": 40,
            "enableDebuggingHandlers": True,  # exec, attach, logs, port-forward
            "protectKernelDefaults": False,
        }

    def write_config(self) -> Path:
        path = self.layout.kubelet_config
        for directory in (
            self.layout.kubelet_root,
            self.layout.pod_logs,
            self.layout.volume_plugins,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        temporary.replace(path)
        return path

    def argv(self) -> list[str]:
        """The flags KubeletConfiguration has no field for."""
        layout = self.layout
        return [
            str(self.binary),
            f"--config={layout.kubelet_config}",
            f"--kubeconfig={layout.kubelet_kubeconfig}",
            f"--root-dir={KUBELET_ROOT_TARGET}",  # the state dir's, bind-mounted (mountns.py)
            f"--cert-dir={layout.pki}",
            f"--hostname-override={layout.name}",
            f"--node-ip={self.address}",
            "--v=1",
        ]

    @property
    def healthz_url(self) -> str:
        return f"http://{self.address}:{KUBELET_HEALTHZ_PORT}/healthz"
