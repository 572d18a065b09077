"""`python3 -m release COMMAND` from a clone: the standard-library shim in front of the toolkit.

The toolkit itself is the `dask_kubernetes_release` package in release/src.
"""
