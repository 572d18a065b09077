"""Small things every part of dask_kubernetes needs once: files, time and YAML mappings."""
