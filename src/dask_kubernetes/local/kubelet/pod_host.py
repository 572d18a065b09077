"""What the pods of one kubelet share, and the process environment built from it.

A container process gets a small base environment (not the kubelet's own), the variables its spec
declares, PATH with the shims first, and the start-up hook's settings (see `pod_hook`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from dask_kubernetes.local.kubelet.command import search_path
from dask_kubernetes.local.kubelet.process_scan import STATE_DIR_MARKER
from dask_kubernetes.local.network.pod_hook import DNS_FILE, HOOK_DIR, HOSTNAME, NAMESPACE, POD_IP
from dask_kubernetes.local.wire.logfiles import log_path

_INHERITED = ("HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME")
#: What a container needs of the state dir besides its own pod dir: start-up hook, shims, DNS map.
_SHARED_WITH_PODS = ("hook", "bin", "dns.json", "pods")
_TRAVERSE_ONLY = 0o711


@dataclass(frozen=True)
class PodHost:
    """What every container of this kubelet shares: paths, the API address, the HTTP session."""

    state_dir: Path
    shim_dir: Path
    hook_dir: Path
    dns_path: Path
    api_host: str
    api_port: int
    session: aiohttp.ClientSession

    def log_path(self, namespace: str, pod: str, container: str, previous: bool = False) -> Path:
        return log_path(self.state_dir, namespace, pod, container, previous)


def pod_dir(host: PodHost, pod: Mapping[str, Any]) -> Path:
    """The pod's private directory: default working directory and TMPDIR."""
    meta = pod["metadata"]
    return host.state_dir / "pods" / str(meta["namespace"]) / str(meta["name"])


def pod_kubeconfig(host: PodHost, pod: Mapping[str, Any]) -> Path:
    """The pod's own kubeconfig (its service-account token), written by the kubelet (mode 0600)."""
    return pod_dir(host, pod) / "kubeconfig"


def hand_over(host: PodHost, pod: Mapping[str, Any], uid: int, gid: int) -> None:
    """Let a pod that runs as another user reach what it needs, and nothing else.

    The state dir (0700) becomes traversable but not listable (0711), as do `pods/` and the
    namespace's directory; everything else at its top (logs, kubeconfigs, the real plane's
    files) loses every permission for others; the hook, shims and DNS map stay world-readable
    as they are written; the pod's directory, TMPDIR and kubeconfig become the pod user's own."""
    own = pod_dir(host, pod)
    tmp = own / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    (host.state_dir / "logs").mkdir(mode=0o700, exist_ok=True)  # before the first log is
    for entry in host.state_dir.iterdir():
        if entry.name not in _SHARED_WITH_PODS and not entry.is_symlink():
            entry.chmod(entry.lstat().st_mode & 0o770)
    for directory in (host.state_dir, host.state_dir / "pods", own.parent):
        directory.chmod(_TRAVERSE_ONLY)
    for path in (own, tmp, pod_kubeconfig(host, pod)):
        if path.exists():
            os.chown(path, uid, gid)
    own.chmod(0o700)
    tmp.chmod(0o700)


def process_environment(
    host: PodHost, pod: Mapping[str, Any], declared: Mapping[str, str]
) -> dict[str, str]:
    """The full environment of a container process: a small base, the declared env, the hook."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    pod_ip = (pod.get("status") or {}).get("podIP", "")
    hostname = spec.get("hostname") or meta["name"]
    env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
    # Containers do not share /tmp: each pod gets its own (Dask purges "stale" scratch dirs).
    tmp = pod_dir(host, pod) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env |= {
        "TMPDIR": str(tmp),
        "HOSTNAME": hostname,
        "KUBERNETES_SERVICE_HOST": host.api_host,
        "KUBERNETES_SERVICE_PORT": str(host.api_port),
        # No service-account token files: in-pod API clients use the pod's own KUBECONFIG.
        "KUBECONFIG": str(pod_kubeconfig(host, pod)),
        "PYTHONUNBUFFERED": "1",
    }
    env |= declared
    env["PATH"] = search_path(host.shim_dir, declared.get("PATH"))
    extra = declared.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(host.hook_dir), extra) if p)
    env |= {
        POD_IP: pod_ip,
        NAMESPACE: meta.get("namespace", "default"),
        DNS_FILE: str(host.dns_path),
        HOSTNAME: hostname,
        HOOK_DIR: str(host.hook_dir),
        STATE_DIR_MARKER: str(host.state_dir),
    }
    return env
