"""Small executables put first on a pod's PATH so upstream manifests run unchanged.

Dask images provide `dask-scheduler` and `dask-worker`; distributed now ships only `dask`. `python`
and `python3` point at the stand-in's own interpreter whatever the host's PATH says.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

_SHIMS = {
    "dask-scheduler": "-m dask scheduler",
    "dask-worker": "-m dask worker",
    "python": "",
    "python3": "",
}


def install_shims(bin_dir: Path) -> Path:
    """Write the shims into `bin_dir` (idempotent) and return it."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    interpreter = shlex.quote(sys.executable)
    for name, module_args in _SHIMS.items():
        target = bin_dir / name
        command = f"{interpreter} {module_args}".rstrip()
        target.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        target.chmod(0o755)
    return bin_dir
