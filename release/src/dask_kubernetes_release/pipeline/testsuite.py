"""Run the whole test suite (pytest) inside the project environment.

Extra arguments go to pytest, e.g. `python -m release test -k manifest -x`, and then only that
runs. Without arguments (the README's command, .ci/run's last step) the whole suite runs, then
the container-node stage (`containerstage`): release.yml's kind-job suite on the real plane with
the real kubelet and containerd, on images built here from the release's wheel. The exit status
is the first failing run's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from dask_kubernetes_release.core.paths import repository_root
from dask_kubernetes_release.pipeline.containerstage import stage_arguments

PASSTHROUGH = True  # every argument goes to pytest


def configure(parser: argparse.ArgumentParser) -> None:
    parser.usage = "python -m release test [PYTEST ARGUMENTS ...]"


def run(args: argparse.Namespace) -> int:
    root = repository_root()
    cmd = [sys.executable, "-m", "pytest", *args.extra]
    code = subprocess.run(cmd, cwd=root, check=False).returncode
    if args.extra:
        return code
    stage = [sys.executable, "-m", "pytest", *stage_arguments(root)]
    print(f"container-node stage: {' '.join(stage[1:])}", flush=True)
    staged = subprocess.run(stage, cwd=root, check=False).returncode
    return code or staged
