"""A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)
built here from pinned sources and run as local processes, next to the stand-in emulator.

`build` compiles the binaries from tools/kube/ into a content-keyed cache; `plane` starts and stops
them, one component per module, in the manner of controller-runtime's envtest control plane.
"""
