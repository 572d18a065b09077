"""The plain-text companions of `manifest.json`, and writing any output atomically.

`SHA256SUMS` is for `sha256sum -c`, `requirements.txt` for `pip install --require-hashes`.
Every output goes to a temporary file in the same directory first and is renamed into place,
so an interrupted run leaves the previous file whole.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from release._build_lock import logical_lines
from release._errors import UsageError
from release._hash_records import FileRecord, Manifest, check_safe_filename

SUMS_NAME = "SHA256SUMS"
_SUMS_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename (temp file is a dotfile: ignored if left over)."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        tmp.chmod(0o644)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
