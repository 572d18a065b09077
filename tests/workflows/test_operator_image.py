"""The operator image's recipe: pinned base, hash-pinned runtime subset of the one lock.

No Docker here, so the image itself is built in release.yml's kind-e2e job; these tests keep its
inputs honest offline.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from dask_kubernetes_release.core.requirements import read_requirements_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "release" / "docker"
# The image's interpreter (python:3.12-slim) on Linux.
IMAGE_MARKERS = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "implementation_name": "cpython",
    "os_name": "posix",
    "extra": "",
}


def pinned_names() -> set[str]:
    """The image's pinned packages, read by the project's one lock reader."""
    found = read_requirements_file((DOCKER / "requirements.txt").read_text())
    assert found.options == () and found.refused == (), "only hash-pinned NAME==VERSION lines"
    return {entry.name for entry in found.pins}


def declared_runtime() -> set[str]:
    """pyproject.toml's [project] dependencies and its `gateway` extra (read here, not through
    runtime_lock.py): what the operator and the gateway the chart runs from this image import."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = [*project["dependencies"], *project["optional-dependencies"]["gateway"]]
    return {canonicalize_name(Requirement(text).name) for text in texts}


def test_the_image_holds_the_gateway_the_chart_runs_from_it() -> None:
    """values.yaml: an empty `gateway.image.repository` means the operator's image, "it holds
    the gateway too". So `--set gateway.enabled=true` as shipped imports dask_gateway_server
    there, and the Dask image (the same requirements) runs dask_gateway's scheduler preload."""
    names = pinned_names()
    assert {"dask-gateway-server", "dask-gateway"} <= names
    assert declared_runtime() - names == set()
    values = (ROOT / "charts" / "dask-kubernetes-operator" / "values.yaml").read_text()
    assert "Empty repository: the operator's image (it holds the gateway too)." in values


def test_base_image_is_pinned_by_digest() -> None:
    froms = [
        line
        for line in (DOCKER / "Dockerfile").read_text().splitlines()
        if line.startswith("FROM ")
    ]
    assert froms
    for line in froms:
        assert re.fullmatch(r"FROM [\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", line), line


def test_image_installs_only_hash_pinned_requirements_and_the_checked_wheel() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    assert "--require-hashes" in text and "-r /tmp/requirements.txt" in text
    assert "COPY dist/SHA256SUMS dist/*.whl /tmp/dist/" in text
    assert "sh /tmp/install-wheel.sh /tmp/dist" in text
    assert "pip install --no-deps /tmp/dist/*.whl" not in text, "never a wheel unchecked"
    assert "pip check" in text
    assert "USER 1000:1000" in text


def test_requirements_are_the_current_runtime_subset_of_the_lock() -> None:
    proc = subprocess.run(
        [sys.executable, str(DOCKER / "runtime_lock.py")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (DOCKER / "requirements.txt").read_text(), (
        "stale: python release/docker/runtime_lock.py > release/docker/requirements.txt"
    )


def test_runtime_subset_is_closed_under_dependencies() -> None:
    """Every dependency (for the image's Python) of every pinned package is pinned too.

    Reads the installed metadata of this environment (same lock); the definitive check is
    `pip install --dry-run --require-hashes -r release/docker/requirements.txt` (network).
    """
    names = pinned_names()
    assert declared_runtime() <= names
    assert not {"pytest", "mypy", "ruff", "zizmor", "sigstore"} & names, "no test tooling"
    missing: set[str] = set()
    checked = 0
    for dist_name in [*names, "dask-kubernetes"]:
        try:
            requires = importlib.metadata.requires(dist_name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # pinned only for another Python than this environment's
        checked += 1
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(IMAGE_MARKERS):
                name = re.sub(r"[-_.]+", "-", req.name).lower()
                if name not in names:
                    missing.add(f"{dist_name} -> {name}")
    assert checked >= len(names) - 10, "most of the subset is installed here to inspect"
    assert missing == set()


def _install_wheel(directory: Path, target: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "PIP_TARGET": str(target),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    }
    return subprocess.run(
        ["sh", str(DOCKER / "install-wheel.sh"), str(directory)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )


def _installable_wheel(directory: Path) -> Path:
    """The smallest wheel pip installs: METADATA, WHEEL and RECORD."""
    info = "dask_kubernetes-2026.3.0.dist-info"
    members = {
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: dask-kubernetes\nVersion: 2026.3.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/RECORD": "",
    }
    path = directory / "dask_kubernetes-2026.3.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(zipfile.ZipInfo(name, (2026, 3, 1, 0, 0, 0)), text)
    return path


def test_the_image_refuses_a_wheel_other_than_the_listed_one(tmp_path: Path) -> None:
    """install-wheel.sh (the Dockerfile's wheel step) installs by SHA256SUMS' hash only."""
    dist = tmp_path / "dist"
    dist.mkdir()
    wheel = _installable_wheel(dist)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (dist / "SHA256SUMS").write_text(f"{digest}  {wheel.name}\n")
    installed = _install_wheel(dist, tmp_path / "ok")
    assert installed.returncode == 0, installed.stderr
    assert list((tmp_path / "ok").glob("dask_kubernetes-2026.3.0.dist-info"))
    data = bytearray(wheel.read_bytes())
    data[-30] ^= 0x01  # one changed byte (in the zip's central directory)
    wheel.write_bytes(bytes(data))
    refused = _install_wheel(dist, tmp_path / "changed")
    assert refused.returncode != 0
    assert "DO NOT MATCH THE HASHES" in refused.stderr
    assert not (tmp_path / "changed").exists() or not list((tmp_path / "changed").iterdir())
    (dist / "SHA256SUMS").write_text(f"{digest}  other.whl\n")
    unlisted = _install_wheel(dist, tmp_path / "unlisted")
    assert unlisted.returncode == 1
    assert (
        unlisted.stderr.strip() == f"install-wheel: {wheel.name} is not listed in {dist}/SHA256SUMS"
    )
