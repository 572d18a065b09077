"""containerd for one node: its config.toml, its command line, and how it is awaited.

Settings, each for a reason (docs/design/container-node.md has the whole list):
- `SystemdCgroup = false` (cgroupfs): no systemd runs here, and the kubelet's `cgroupDriver` must
  match containerd's.
- runc as the only runtime (`io.containerd.runc.v2`, `BinaryName` the built runc), the overlayfs
  snapshotter (this kernel has overlay; no btrfs/zfs/devmapper/erofs: those plugins are disabled so
  their probes do not touch the host).
- `root` under the cluster's state dir (image content and snapshots), `state` and the socket under
  /run/containerd, which is a tmpfs of the node's mount namespace (`mountns.py`);
  `netns_mounts_under_state_dir` keeps pod network namespaces out of the host's /run/netns.
- `restrict_oom_score_adj`: root here lacks CAP_SYS_RESOURCE (`CapEff` has no bit 24), so no
  negative oom_score_adj can be set; the kubelet's -998 for sandboxes is clamped to 0 (OOM kills
  still pick the container over its memory limit: that is the cgroup's own OOM, not a global one).
- Config `version = 4`, containerd 2.4's own (a version 3 file is migrated at every start).
- CNI: `bin_dirs` the built plugins, `conf_dir` the node's own, `conf_template` rendered by
  containerd once the kubelet passes the node's podCIDR (`cni.py`).
- The pause image pinned as `sandbox` (it must be imported: nothing can be pulled here); NRI,
  tracing and the TCP streaming listener off; the streaming server on 127.0.0.1 of the cluster's
  network namespace (the kubelet proxies exec/attach/port-forward to it).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dask_kubernetes.local.containernode import toml
from dask_kubernetes.local.containernode.layout import (
    CNI_CACHE_TARGET,
    KUBELET_ROOT_TARGET,
    NodeLayout,
)
from dask_kubernetes.local.containernode.mountns import in_namespace_of, in_new_namespace

CRI_RUNTIME = "io.containerd.cri.v1.runtime"
CRI_IMAGES = "io.containerd.cri.v1.images"
CRI_SERVER = "io.containerd.grpc.v1.cri"
NAMESPACE = "k8s.io"  # containerd's namespace for the CRI's images and containers
DISABLED_PLUGINS = (
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.erofs",
    "io.containerd.differ.v1.erofs",
    "io.containerd.mount-handler.v1.erofs",
    "io.containerd.snapshotter.v1.blockfile",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
    "io.containerd.nri.v1.nri",
)


@dataclass
class Containerd:
    binaries: Path  # containerd, containerd-shim-runc-v2, ctr, runc
    cni_bin: Path
    layout: NodeLayout
    sandbox_image: str

    def config(self) -> dict[str, Any]:
        layout = self.layout
        return {
            "version": 4,
            "root": str(layout.containerd_root),
            "state": str(layout.containerd_state),
            "disabled_plugins": list(DISABLED_PLUGINS),
            "grpc": {"address": str(layout.containerd_socket)},
            "ttrpc": {"address": f"{layout.containerd_socket}.ttrpc"},
            "metrics": {"address": ""},
            "plugins": {
                CRI_IMAGES: {
                    "snapshotter": "overlayfs",
                    "pinned_images": {"sandbox": self.sandbox_image},
                },
                CRI_RUNTIME: {
                    "enable_selinux": False,
                    # This machine withholds CAP_SYS_RESOURCE even from root: no process may lower
                    # its oom_score_adj below 0, and runc fails the pause container's -998. Clamp
                    # every container's to containerd's own (0) instead.
                    "restrict_oom_score_adj": True,
                    "netns_mounts_under_state_dir": True,
                    "containerd": {
                        "default_runtime_name": "runc",
                        "runtimes": {
                            "runc": {
                                "runtime_type": "io.containerd.runc.v2",
                                "options": {
                                    "SystemdCgroup": False,
                                    "BinaryName": str(self.binaries / "runc"),
                                },
                            }
                        },
                    },
                    "cni": {
                        "bin_dirs": [str(self.cni_bin)],
                        "conf_dir": str(layout.cni_conf_dir),
                        "conf_template": str(layout.cni_template),
                        "max_conf_num": 1,
                    },
                },
                CRI_SERVER: {
                    "disable_tcp_service": True,
                    "stream_server_address": "127.0.0.1",
                    "stream_server_port": "0",
                },
                "io.containerd.internal.v1.opt": {"path": str(layout.root / "containerd" / "opt")},
            },
        }

    def write_config(self) -> Path:
        path = self.layout.containerd_config
        path.parent.mkdir(parents=True, exist_ok=True)
        for directory in (
            self.layout.containerd_root,
            self.layout.cni_conf_dir,
            self.layout.kubelet_root,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        self.layout.cni_cache.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(toml.dumps(self.config()))
        temporary.replace(path)
        return path

    def argv(self) -> list[str]:
        """containerd as the first process of the node's mount namespace."""
        command = [str(self.binaries / "containerd"), f"--config={self.layout.containerd_config}"]
        binds = [
            (self.layout.cni_cache, CNI_CACHE_TARGET),
            (self.layout.kubelet_root, KUBELET_ROOT_TARGET),
        ]
        return in_new_namespace(command, binds)

    def ctr(self, pid: int, *args: str) -> list[str]:
        """`ctr` against this containerd, run inside its mount namespace (where the socket is)."""
        command = [
            str(self.binaries / "ctr"),
            f"--address={self.layout.containerd_socket}",
            f"--namespace={NAMESPACE}",
            *args,
        ]
        return in_namespace_of(pid, command)

    def serving(self, pid: int) -> str | None:
        """A readiness check: None once `ctr version` gets the server's answer."""
        result = subprocess.run(
            self.ctr(pid, "version"), capture_output=True, text=True, timeout=20, check=False
        )
        if result.returncode == 0 and "Server:" in result.stdout:
            return None
        return (result.stderr or result.stdout).strip()[-200:] or f"exit {result.returncode}"
