"""Entrypoints of the images the stand-in runs without pulling them.

The kubelet runs processes, not images. A container without `command` normally runs its `args`
(the Dask images' entrypoint executes its arguments); an image listed here gets its ENTRYPOINT
first, as a container runtime would take it from the image config. The operator image's entry
mirrors release/docker/Dockerfile, and a test keeps the two equal.
"""

from __future__ import annotations

ENTRYPOINTS: dict[str, tuple[str, ...]] = {
    "ghcr.io/dask/dask-kubernetes-operator": ("python", "-m", "dask_kubernetes.operator"),
}


def repository(image: str) -> str:
    """`registry/name` without `:tag` or `@digest`."""
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


def entrypoint(image: str) -> tuple[str, ...]:
    return ENTRYPOINTS.get(repository(image), ())
