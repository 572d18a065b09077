"""release.yml's build, attest, publish and github-release jobs install only
release/requirements.lock (not the project, not the test tools) and run `python -m release`.
Every command module is imported here with everything outside that lock blocked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import importlib.metadata as md, json, re, sys

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

allowed = set(json.loads(sys.argv[1]))
blocked = {"dask_kubernetes"} | {
    module
    for module, dists in md.packages_distributions().items()
    if not any(norm(d) in allowed for d in dists)
}

class OutsideTheReleaseLock:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"{name!r} is not in the release lock", name=name)
        return None

sys.meta_path.insert(0, OutsideTheReleaseLock)
sys.path.insert(0, "release/src")  # as `python -m release` does
from dask_kubernetes_release.cli import COMMANDS, load_command
for command in COMMANDS:
    load_command(command)  # a module outside the lock is a UsageError naming it
print(json.dumps(sorted(COMMANDS)))
"""


def release_lock_names() -> list[str]:
    text = (ROOT / "release" / "requirements.lock").read_text()
    names = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", text, flags=re.MULTILINE)
    return sorted({re.sub(r"[-_.]+", "-", n).lower() for n in names} | {"pip", "setuptools"})


def test_every_release_command_loads_with_only_the_release_lock() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(release_lock_names())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DASK_K8S_NO_BOOTSTRAP": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = set(json.loads(proc.stdout))
    from dask_kubernetes_release.cli import COMMANDS

    assert loaded == set(COMMANDS)
    assert "tag" in loaded
