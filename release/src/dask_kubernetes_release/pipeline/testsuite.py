"""Run the whole test suite (pytest) inside the project environment.

Extra arguments go to pytest, e.g. `python -m release test -k manifest -x`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from dask_kubernetes_release.core.paths import repository_root

PASSTHROUGH = True  # every argument goes to pytest


def configure(parser: argparse.ArgumentParser) -> None:
    parser.usage = "python -m release test [PYTEST ARGUMENTS ...]"


def run(args: argparse.Namespace) -> int:
    cmd = [sys.executable, "-m", "pytest", *args.extra]
    return subprocess.run(cmd, cwd=repository_root(), check=False).returncode
