"""The node agent of the local cluster: runs each pod as a process of this machine.

See docs/design/local-standin.md.
"""

from __future__ import annotations

from dask_kubernetes.local.kubelet.kubelet import NODE_NAME, Kubelet

__all__ = ["NODE_NAME", "Kubelet"]
