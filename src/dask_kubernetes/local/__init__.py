"""Kubernetes on this machine, without a cluster: components in layers, composed at the top.

From the bottom up (a package imports only packages listed before it, and `common/`; the
layout test, tests/release/test_layout.py, fails on a cycle):

- `apimachinery/`: what everything reads alike about API requests and objects: `Status` errors,
  selectors, audit records;
- `wire/`: the wire protocols: SPDY, port-forward streams, container log files;
- `credentials/`: the certificate authorities (`pki`) and the one kubeconfig writer;
- `client/`: the API client and informers every agent uses;
- `apiserver/`: the API server emulator (the fast, rootless default control plane);
- `controllers/`: the emulator's controllers (garbage collection, Deployments, ReplicaSets),
  started beside it by the composition; a real control plane runs kube-controller-manager's;
- `network/`: pod and Service addresses, kube-proxy's forwarders, the endpoints rules, pod DNS;
- `kubelet/`: the node agent, running each pod as a process of this machine;
- `provision/`: builds the real binaries from pinned sources (`python -m
  dask_kubernetes.local.provision build`), apart from the code that runs them;
- `controlplane/`: the real etcd, kube-apiserver, kube-controller-manager and kube-scheduler;
- `containernode/`: a real node for the real plane: the kubelet with containerd, runc, CNI,
  kube-proxy and CoreDNS, in the cluster's network namespace and a mount namespace of its own;
- here: the compositions, `emulated.py` and `real.py` side by side, and `cluster.py`'s
  `LocalKubernetes`, which runs either (and optionally the operator); `dask kubernetes local`
  is its CLI.
"""

from __future__ import annotations

from dask_kubernetes.local.cluster import LocalKubernetes, LocalKubernetesError

__all__ = ["LocalKubernetes", "LocalKubernetesError"]
