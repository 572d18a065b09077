"""The one way this package writes a file another process may read.

Readers (kubectl, helm, the operator, a test) must never see half a file, and a secret must never
be readable by others, not even for the moment between create and chmod. So every write goes to a
sibling temp file created with its final mode, is flushed to disk, then renamed over the target.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PRIVATE = 0o600
PUBLIC = 0o644


def write_atomically(path: Path, data: str | bytes, *, mode: int = PUBLIC) -> None:
    """Replace `path` with `data` in one rename; the file has `mode` from its first byte."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)  # mkstemp creates 0600; widen only when asked
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_private(path: Path, data: str | bytes) -> None:
    """Keys, tokens, kubeconfigs: mode 0600 from creation, replaced atomically."""
    write_atomically(path, data, mode=PRIVATE)
