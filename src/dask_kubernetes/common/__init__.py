"""Small things every part of dask_kubernetes needs once: files and time."""
