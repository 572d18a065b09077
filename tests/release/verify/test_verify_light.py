"""`verify --help` and `inspect --help` answer without importing sigstore or pydantic.

Why: a security team's first command is `--help`; the cryptography stack takes most of a second
to import and is only needed to verify. Measured with `python -X importtime` in a fresh process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("sigstore", "pydantic", "pypi_attestations", "securesystemslib", "cryptography")


def _imported(*argv: str) -> tuple[list[str], int]:
    """The top-level packages a fresh `python -m release ARGV` imports, and the import time."""
    env = {**os.environ, "DASK_K8S_NO_BOOTSTRAP": "1"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "release", *argv],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    names, total = [], 0
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            self_us, _cumulative, name = line.removeprefix("import time:").split("|")
            if self_us.strip().isdigit():
                total += int(self_us)
                names.append(name.strip())
    return names, total


@pytest.mark.parametrize("command", ["verify", "inspect"])
def test_help_imports_no_crypto_stack(command: str) -> None:
    names, total_us = _imported(command, "--help")
    assert names, "importtime printed nothing"
    heavy = sorted({n.split(".")[0] for n in names} & set(HEAVY))
    assert heavy == []
    assert total_us < 500_000, f"{total_us} us of imports for --help"


def test_help_teaches_the_new_options() -> None:
    env = {**os.environ, "DASK_K8S_NO_BOOTSTRAP": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "release", "verify", "--help"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for needle in (
        "verify NAME==VERSION [--index-url URL] [--download-dir DIR]",
        "--identity-regexp REGEX",
        "--source-digest SHA",
        "--predicate-type URI",
        "--trusted-root FILE",
        "schema_version",
        "`inspect` shows the same records",
    ):
        assert needle in proc.stdout, needle
