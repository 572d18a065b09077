"""Regenerate `upstream_golden.json`: upstream dask-kubernetes 2026.3.0's manifests for our cases.

Run by hand: `.venv/bin/python tests/kubecluster/make_upstream_golden.py`. It downloads the
upstream wheel (no install) and imports it in a subprocess, where it shadows our package.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
UPSTREAM = "dask-kubernetes==2026.3.0"

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from spec_cases import CLUSTER_CASES, SCHEDULER_CASES, WORKER_CASES
from dask_kubernetes.operator.kubecluster.kubecluster import (
    make_cluster_spec, make_scheduler_spec, make_worker_spec)
print(json.dumps({
    "cluster": [make_cluster_spec(**c) for c in CLUSTER_CASES],
    "worker": [make_worker_spec(**c) for c in WORKER_CASES],
    "scheduler": [make_scheduler_spec(**c) for c in SCHEDULER_CASES],
}, indent=1, sort_keys=True))
"""


def download_upstream_wheel(directory: str) -> Path:
    """Upstream's wheel, downloaded (not installed) into `directory`."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", UPSTREAM, "-d", directory],
        check=True,
    )
    [wheel] = Path(directory).glob("*.whl")
    return wheel


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wheel = download_upstream_wheel(tmp)
        unpacked = Path(tmp) / "unpacked"
        zipfile.ZipFile(wheel).extractall(unpacked)
        result = subprocess.run(
            [sys.executable, "-c", PROBE, str(HERE)],
            env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"},
            check=True,
            capture_output=True,
            text=True,
        )
    (HERE / "upstream_golden.json").write_text(result.stdout)


if __name__ == "__main__":
    main()
