"""The table PyPI shows for a release's files, so a maintainer can compare it by eye."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from dask_kubernetes_release.manifest.records import FileRecord

if TYPE_CHECKING:
    from rich.table import Table

_UNITS = ("kB", "MB", "GB", "TB", "PB")


def pypi_size(size: int) -> str:
    """Size as PyPI prints it (Jinja's `filesizeformat`: powers of 1000, one decimal)."""
    if size == 1:
        return "1 Byte"
    if size < 1000:
        return f"{size} Bytes"
    for exponent, unit in enumerate(_UNITS, start=2):
        if size < 1000**exponent or unit == _UNITS[-1]:
            return f"{1000 * size / 1000**exponent:.1f} {unit}"
    raise AssertionError("unreachable")


def render_table(records: Iterable[FileRecord], *, title: str | None = None) -> Table:
    """A rich Table: file name, size, Python tag and the three digests."""
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    table.add_column("File", no_wrap=True)
    table.add_column("Size", justify="right", no_wrap=True)
    table.add_column("Python", no_wrap=True)
    for column in ("SHA256", "MD5", "BLAKE2b-256"):
        table.add_column(column, no_wrap=True, overflow="fold")
    for record in records:
        table.add_row(
            record.filename,
            pypi_size(record.size),
            record.python_tag or "-",
            record.sha256,
            record.md5,
            record.blake2b_256,
        )
    return table


def print_table(records: Iterable[FileRecord], *, title: str | None = None) -> None:
    """Print the table in full even when stdout is not a terminal (digests must not be cut)."""
    from rich.console import Console

    Console(width=400, soft_wrap=True).print(render_table(records, title=title))
