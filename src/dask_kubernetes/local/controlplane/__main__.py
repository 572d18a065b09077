"""`python -m dask_kubernetes.local.controlplane build | gomod`: the provisioning command's first
name, kept because the committed tools/kube/kubernetes/go.mod names it in its generated block
(a build input: rewording it would change the cache key). It runs `python -m
dask_kubernetes.local.provision` with the same arguments; the runtime package imports nothing of
provisioning for it.
"""

from __future__ import annotations

import runpy

if __name__ == "__main__":
    runpy.run_module("dask_kubernetes.local.provision", run_name="__main__", alter_sys=True)
