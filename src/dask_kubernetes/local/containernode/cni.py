"""The pod network of one node: a CNI conflist template containerd renders with the node's podCIDR.

Each pod gets its own network namespace (made by containerd) and a veth pair to the bridge
`dk-<node>` in the cluster's network namespace; the bridge holds the gateway, the first address of
the node's podCIDR, so the cluster's namespace routes to the node's pods and pods reach the API
server (10.240.0.1), CoreDNS and other nodes' pods through it. The podCIDR is the one the real
controller manager allocates to the Node out of the plane's cluster CIDR (10.244.0.0/16,
`--allocate-node-cidrs`): we cannot know it before the Node registers, so containerd writes the
conflist from this template when the kubelet passes it the podCIDR (`conf_template`), the way
containerd's own docs set up a node without a network add-on.

Plugins: `bridge` (`isGateway`, `hairpinMode` so a pod reaches itself through a Service, no
`ipMasq`: nothing leaves the namespace to be masqueraded for), `host-local` IPAM with its state in
the node's directory (not /var/lib/cni/networks), `portmap` for hostPort. `loopback` is not listed:
containerd brings each pod's `lo` up with the loopback plugin itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dask_kubernetes.local.containernode.layout import NodeLayout

CNI_VERSION = "1.0.0"
NETWORK_NAME = "dask-kubernetes-pods"


def bridge_name(node: str) -> str:
    """Linux interface names are at most 15 bytes."""
    return f"dk-{node}"[:15]


def conflist(layout: NodeLayout, subnet: str = "{{.PodCIDR}}") -> dict[str, Any]:
    """The conflist; `subnet` stays containerd's template placeholder unless a test renders it."""
    return {
        "cniVersion": CNI_VERSION,
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge_name(layout.name),
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(layout.cni_ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def write_template(layout: NodeLayout) -> Path:
    path = layout.cni_template
    path.parent.mkdir(parents=True, exist_ok=True)
    layout.cni_ipam_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(conflist(layout), indent=2) + "\n")
    temporary.replace(path)
    return path
