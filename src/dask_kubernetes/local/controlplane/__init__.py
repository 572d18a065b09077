"""A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)
run as local processes, next to the stand-in emulator.

`plane` starts and stops them, one component per module, in the manner of controller-runtime's
envtest control plane; the binaries come from `local/provision/` (built from tools/kube/ into a
content-keyed cache); of provisioning this package reads only `provision.paths`, to find the
operator's chart in the clone.
"""
