"""Resolving a dependency closure with uv's universal resolver (never a hand-written one).

uv comes from the hash-locked release toolchain (`uv` in release/requirements.lock). One call
resolves once for every Python and platform (`--universal`); each output format is a second
call constrained to the first one's pins, so the requirements file and the pylock file can
never disagree about a version even when the index moves between the calls.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from dask_kubernetes_release.core.errors import UsageError

# The oldest Python the project supports: universal resolution covers it and every later one.
MIN_PYTHON = "3.10"


def uv_binary() -> str:
    try:
        import uv
    except ImportError:
        raise UsageError("uv is not installed: install release/requirements.lock") from None
    return str(uv.find_uv_bin())


def compile_lock(
    requirement: str, output_format: str, own: str, constraints: str | None = None
) -> str:
    """uv's universal, hash-pinned resolution of `requirement` in `output_format`.

    `own` (our project) is resolved, from the wheel named in `requirement`, but not emitted:
    its entry is written by the caller from the manifest's digests.
    """
    name = "pylock.toml" if output_format == "pylock.toml" else "requirements.txt"
    with tempfile.TemporaryDirectory(prefix="release-lock-") as tmp:
        source = Path(tmp, "requirements.in")
        source.write_text(requirement + "\n", encoding="utf-8")
        output = Path(tmp, "out", name)
        output.parent.mkdir()
        args = [
            "--universal",
            "--python-version",
            MIN_PYTHON,
            "--generate-hashes",
            "--no-header",
            "--format",
            output_format,
            "--no-emit-package",
            own,
        ]
        if constraints is not None:
            constraint_file = Path(tmp, "constraints.txt")
            constraint_file.write_text(constraints, encoding="utf-8")
            args += ["--constraint", str(constraint_file)]
        _uv(["pip", "compile", "--quiet", *args, str(source), "-o", str(output)])
        return output.read_text(encoding="utf-8")


def _uv(args: Sequence[str]) -> None:
    command = [uv_binary(), "--no-progress", "--color", "never", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
        detail = next((ln.strip() for ln in lines if ln.strip()), "no output")
        raise UsageError(f"uv could not resolve the dependencies: {detail}")
