"""The installed distribution's version, defined here once for every module that reports it.

Its own module so a submodule (the operator's REST client puts it in its User-Agent) takes it from
here rather than from the package root's namespace, which it would otherwise depend on being
fully initialised.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dask-kubernetes")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"

# Upstream's (setuptools-scm) shape: "2026.3.1.dev4+gabc" -> (2026, 3, 1, "dev4", "gabc").
__version_tuple__: tuple[int | str, ...] = tuple(
    int(part) if part.isdigit() else part for part in __version__.replace("+", ".").split(".")
)
