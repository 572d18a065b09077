"""`dask kubernetes ...`: the CLI group registered with dask's `dask_cli` entry point.

Subcommands live in their own modules and attach themselves to `kubernetes` on import. A module
that fails to import (a broken install, a bad edit) is an error naming it, never commands that
silently disappear: every invocation says so in one line and exits 2; `--help` still answers and
names what is unavailable. (dask's CLI would otherwise swallow an exception raised here into a
warning and drop the whole `kubernetes` group.)
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click


class _Kubernetes(click.Group):
    """The group, remembering which subcommand modules failed to import."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unavailable: dict[str, str] = {}  # module -> why it failed to import

    def invoke(self, ctx: click.Context) -> Any:
        if self.unavailable:
            module, reason = next(iter(self.unavailable.items()))
            click.echo(
                f"dask kubernetes: unavailable: {module} failed to import ({reason}); "
                "reinstall dask-kubernetes",
                err=True,
            )
            ctx.exit(2)
        return super().invoke(ctx)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        for module, reason in self.unavailable.items():
            formatter.write_paragraph()
            formatter.write_text(f"unavailable: {module} failed to import ({reason})")


@click.group(
    name="kubernetes",
    cls=_Kubernetes,
    help="Dask on Kubernetes: clusters, the operator, a local stand-in.",
)
@click.version_option(package_name="dask-kubernetes", prog_name="dask-kubernetes")
def kubernetes() -> None:
    pass


#: Subcommand modules, each registering commands on `kubernetes`.
SUBCOMMAND_MODULES = ("local", "clusters")


def _import_subcommands(group: _Kubernetes) -> None:
    for name in SUBCOMMAND_MODULES:
        module = f"{__name__}.{name}"
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - any failure is reported, never a traceback
            group.unavailable[module] = f"{type(exc).__name__}: {exc}"
            sys.modules.pop(module, None)


_import_subcommands(kubernetes)
