"""The dask-kubernetes release toolkit: `python -m release COMMAND` from the repository root."""
