"""A fresh virtual environment holding only the dask-kubernetes-release distribution.

Why: "pip install dask-kubernetes-release" must give a working verifier and nothing else (no
dask, no operator, no test stack). The dependency closure is read from the toolkit wheel's own
metadata, walked through the metadata of the project's environment (installed from the
hash-locked tests/requirements.lock), and installed from that lock's pins and hashes with
`pip install --require-hashes --no-deps`; `pip check` then proves the closure complete. Used by
tests/release/verify/test_toolkit_install.py and bench/bench_verify_cold.py.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import subprocess
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from dask_kubernetes_release.core.requirements import read_lock

ROOT = Path(__file__).resolve().parents[3]
DEV_LOCK = ROOT / "tests" / "requirements.lock"
CONSOLE_SCRIPT = "dask-kubernetes-release"


def wheel_requirements(wheel: Path) -> list[Requirement]:
    """The wheel's Requires-Dist, without extras."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode("utf-8"))
    requirements = [Requirement(text) for text in metadata.get_all("Requires-Dist") or []]
    return [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]


def closure(requirements: list[Requirement]) -> set[NormalizedName]:
    """Every distribution `requirements` pull in on this interpreter (this env's metadata)."""
    seen: set[NormalizedName] = set()
    stack = list(requirements)
    while stack:
        requirement = stack.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for text in importlib.metadata.distribution(name).requires or []:
            child = Requirement(text)
            if child.marker is None or child.marker.evaluate({"extra": ""}):
                stack.append(child)
    return seen


def requirements_file(wheel: Path, lock: Path = DEV_LOCK) -> str:
    """The closure's locked pins with their hashes, then the wheel itself by its sha256."""
    locked = read_lock(lock)
    lines = []
    for name in sorted(closure(wheel_requirements(wheel))):
        if name not in locked:
            raise AssertionError(f"{name} is not in {lock.name}: the lead must re-lock")
        lines.append(locked[name].requirement_line())
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lines.append(f"{wheel} --hash=sha256:{digest}")
    return "\n".join(lines) + "\n"


def make_venv(where: Path, wheel: Path) -> Path:
    """Create `where` with only the toolkit and its locked closure; returns its bin directory."""
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    requirements = where / "toolkit-requirements.txt"
    requirements.write_text(requirements_file(wheel))
    python = str(where / "bin" / "python")
    pip = [python, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run(
        [*pip, "install", "--require-hashes", "--no-deps", "-r", str(requirements)],
        check=True, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    subprocess.run([*pip, "check"], check=True, capture_output=True, text=True, timeout=120)
    return where / "bin"


def installed(bin_dir: Path) -> set[NormalizedName]:
    """The distributions installed in the venv (pip's own tooling aside)."""
    proc = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "list", "--format=freeze"],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return {canonicalize_name(line.split("==")[0]) for line in proc.stdout.splitlines() if line}
