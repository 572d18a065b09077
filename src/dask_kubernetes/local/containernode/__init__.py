"""A real node for the real control plane: the kubelet with containerd, runc, CNI, kube-proxy and
CoreDNS, all inside the cluster's network namespace (`dask kubernetes local --control-plane real
--node containers`).

The process node (`local/kubelet/`) runs pods as host processes of this Python and ignores images,
securityContext, limits and volumes; this node runs what users run. One component per module,
composed by `node.py`. See docs/design/container-node.md.
"""
