"""Every file the toolkit writes or reads whole: atomic writes and size-limited reads.

Why one module: an output must never be half-written (an interrupted run leaves the old file
whole; the temporary is a dotfile, so a leftover is ignored) and a private key must never be
world-readable, not even between create and chmod (`mkstemp` creates 0600, the mode is set on the
descriptor before the first byte). Inputs that may be hostile are refused above a sane size
before they are read.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from dask_kubernetes_release.core.errors import UsageError

PRIVATE = 0o600
PUBLIC = 0o644
MAX_EVIDENCE_BYTES = 4 * 1024 * 1024


def write_atomically(path: Path, data: str | bytes, *, mode: int = PUBLIC) -> None:
    """Replace `path` with `data` (text is UTF-8, newlines untouched) in one rename."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_optional_json(path: Path) -> Any:
    """The JSON document at `path`, None when there is no file; UsageError when unreadable."""
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def read_limited(path: Path, limit: int = MAX_EVIDENCE_BYTES) -> bytes:
    """The file's bytes, refusing missing, non-regular and oversized files."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    size = path.stat().st_size
    if size > limit:
        raise UsageError(f"{path}: {size} bytes is too large (limit {limit // 2**20} MiB)")
    return path.read_bytes()
