"""Kubernetes on this machine, without a cluster: components, composed in `cluster.py`.

- `apiserver/`: the API server emulator (the fast, rootless default control plane);
- `controllers/`: the controllers the emulator runs in-process (Deployment, ReplicaSet, garbage
  collection, Endpoints); a real control plane runs kube-controller-manager's instead;
- `kubelet/`: the node agent, running each pod as a process of this machine;
- `network/`: pod and Service addresses, kube-proxy's forwarders, cluster DNS for pods;
- `controlplane/`: the real etcd, kube-apiserver, kube-controller-manager and kube-scheduler,
  built from pinned sources.

`LocalKubernetes` runs them (and optionally the operator); `dask kubernetes local` is its CLI.
"""

from __future__ import annotations

from dask_kubernetes.local.cluster import LocalKubernetes, LocalKubernetesError

__all__ = ["LocalKubernetes", "LocalKubernetesError"]
