"""`dask kubernetes ...`: the CLI group registered with dask's `dask_cli` entry point.

Subcommands live in their own modules and attach themselves to `kubernetes` on import.
"""

from __future__ import annotations

import importlib

import click


@click.group(
    name="kubernetes", help="Dask on Kubernetes: clusters, the operator, a local stand-in."
)
@click.version_option(package_name="dask-kubernetes", prog_name="dask-kubernetes")
def kubernetes() -> None:
    pass


# Subcommand modules, each registering commands on `kubernetes`. Missing ones are skipped so a
# module can land independently.
_SUBCOMMANDS = ("local", "clusters")

for _name in _SUBCOMMANDS:
    try:
        importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"{__name__}.{_name}":
            raise
