"""The dask-kubernetes release toolkit: build, hash, lock, attest, verify and tag.

Run it as `python3 -m release COMMAND` from a clone (that sets up the hash-locked environment),
or `python -m dask_kubernetes_release COMMAND` where the package is importable.
"""
