"""The plain-text companions of `manifest.json`: SHA256SUMS and requirements.txt.

`SHA256SUMS` is for `sha256sum -c`, `requirements.txt` for `pip install --require-hashes`.
Both are written with `core.files.write_atomically`, like every other output.
"""

from __future__ import annotations

import re
from pathlib import Path

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.requirements import logical_lines
from dask_kubernetes_release.manifest.records import FileRecord, Manifest, check_safe_filename

SUMS_NAME = "SHA256SUMS"
_SUMS_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")


def render_sums(records: tuple[FileRecord, ...]) -> str:
    return "".join(f"{record.sha256}  {record.filename}\n" for record in records)


def parse_sums(text: str, where: Path) -> dict[str, str]:
    """`SHA256SUMS` as {file name: sha256}; garbled lines or unsafe names are a UsageError."""
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _SUMS_LINE.fullmatch(line)
        if match is None:
            raise UsageError(f"{where}:{number}: not a sha256sum line")
        name = check_safe_filename(match.group(2))
        if name in sums:
            raise UsageError(f"{where}:{number}: {name} is listed twice")
        sums[name] = match.group(1)
    return sums


def render_requirements(manifest: Manifest) -> str:
    hashes = " ".join(f"--hash=sha256:{record.sha256}" for record in manifest.files)
    return f"{manifest.project}=={manifest.version} {hashes}\n"


def requirement_hashes(text: str) -> tuple[str, set[str]]:
    """The pin and sha256 set of a requirements file's first requirement: our own files.

    (`render_requirements` writes only that line; `release lock` writes it first, then the
    dependencies, so this reads both.)
    """
    for entry in logical_lines(text):
        if not entry.startswith("-"):
            pin, *options = entry.split()
            return pin, {item.removeprefix("--hash=sha256:") for item in options}
    return "", set()
