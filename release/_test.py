"""Run the whole test suite (pytest) inside the project environment.

Extra arguments go to pytest, e.g. `python -m release test -k manifest -x`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from release._bootstrap import ROOT


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed to pytest")


def run(args: argparse.Namespace) -> int:
    cmd = [sys.executable, "-m", "pytest", *args.pytest_args]
    return subprocess.run(cmd, cwd=ROOT, check=False).returncode
