"""`release lock DIR`: the published requirements files install with pip's defaults, by hash.

Each install runs in a fresh virtual environment on this machine, dependencies from the
package index as configured here and our own files from DIR (the `--find-links .` the
requirements file carries, read relative to the file). Attacks: a dependency line whose hash
is changed, and an added unhashed line, must be refused by pip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from dask_kubernetes_release.cli import main
from dask_kubernetes_release.core.lockfiles import LOCK_NAMES, pylock_name, requirements_name
from dask_kubernetes_release.lock.uv import uv_binary
from dask_kubernetes_release.manifest.check import check_directory
from dask_kubernetes_release.manifest.records import load_manifest

pytestmark = pytest.mark.slow

# What each locked target must be able to do once installed.
SMOKE = {
    None: "from dask_kubernetes.operator import KubeCluster",
    "local": "from dask_kubernetes.operator import KubeCluster; "
    "from dask_kubernetes.local import LocalKubernetes; import aiohttp, cryptography",
}


def fresh_venv(where: Path) -> Path:
    """A new virtual environment with the pip its Python bundles: what a new user has."""
    venv.EnvBuilder(with_pip=True, symlinks=True).create(where)
    return where / "bin" / "python"


def pip(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def installed(python: Path) -> dict[str, str]:
    listing = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json", "--exclude", "pip"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = {re.sub(r"[-_.]+", "-", p["name"]).lower(): p["version"] for p in json.loads(listing)}
    names.pop("setuptools", None)  # bundled with Python 3.11's venv, not ours
    return names


@pytest.fixture(scope="module")
def pip_installs(
    locked_release: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str | None, tuple[Path, subprocess.CompletedProcess[str]]]:
    """`pip install --require-hashes -r FILE`, exactly as README says, once per target."""
    results = {}
    for extra in SMOKE:
        base = tmp_path_factory.mktemp(f"pip-{extra or 'base'}")
        python = fresh_venv(base / "venv")
        requirements = locked_release / requirements_name(extra)
        # From another directory: the file's own --find-links must find our files beside it.
        done = pip(python, "install", "--require-hashes", "-r", str(requirements), cwd=base)
        results[extra] = (python, done)
    return results


@pytest.mark.parametrize("extra", list(SMOKE), ids=lambda e: e or "base")
def test_requirements_install_with_hashes_and_work(
    extra: str | None,
    pip_installs: dict[str | None, tuple[Path, subprocess.CompletedProcess[str]]],
    locked_release: Path,
) -> None:
    python, done = pip_installs[extra]
    assert done.returncode == 0, done.stderr[-2000:]
    versions = installed(python)
    version = load_manifest(locked_release).version
    assert versions["dask-kubernetes"] == version
    assert {"dask", "distributed", "kopf", "kr8s", "click"} <= set(versions)
    if extra == "local":
        assert {"aiohttp", "cryptography"} <= set(versions)
    smoke = subprocess.run([str(python), "-c", SMOKE[extra]], capture_output=True, text=True)
    assert smoke.returncode == 0, smoke.stderr
    cli = subprocess.run(
        [str(python.parent / "dask"), "kubernetes", "--help"], capture_output=True, text=True
    )
    assert cli.returncode == 0 and "local" in cli.stdout, cli.stderr
    check = pip(python, "check", cwd=python.parent)
    assert check.returncode == 0, check.stdout


def _tampered(locked_release: Path, tmp_path: Path, change: str) -> Path:
    copy = tmp_path / "dist"
    shutil.copytree(locked_release, copy)
    requirements = copy / "requirements.txt"
    text = requirements.read_text()
    if change == "dependency hash":
        # A dependency with a single file (so pip cannot fall back to another of its files):
        # one hexadecimal digit of its only hash changed.
        entries = re.findall(
            r"^([a-z0-9-]+)==\S+(?: ;[^\\\n]*)? \\\n"
            r"    --hash=sha256:([0-9a-f]{64})\n(?!    --hash)",
            text,
            re.M,
        )
        assert entries, "the closure has a single-file dependency to attack"
        name, digest = entries[0]
        assert name != "dask-kubernetes"
        forged = digest[:-1] + ("0" if digest[-1] != "0" else "1")
        text = text.replace(digest, forged)
    else:
        text += "six==1.17.0\n"
    requirements.write_text(text)
    return requirements


@pytest.mark.parametrize("change", ["dependency hash", "unhashed line"])
def test_pip_refuses_a_tampered_requirements_file(
    change: str, locked_release: Path, tmp_path: Path
) -> None:
    requirements = _tampered(locked_release, tmp_path, change)
    python = fresh_venv(tmp_path / "venv")
    done = pip(python, "install", "--require-hashes", "-r", str(requirements), cwd=tmp_path)
    assert done.returncode != 0
    expected = "DO NOT MATCH THE HASHES" if change == "dependency hash" else "Hashes are required"
    assert expected in done.stderr, done.stderr[-2000:]
    assert "dask-kubernetes" not in installed(python)
    # `release check` sees the changed file too: the manifest lists it.
    problems = {(p.kind, p.filename) for p in check_directory(requirements.parent).problems}
    assert ("mismatch", "requirements.txt") in problems


def test_pylock_installs_with_uv_and_matches_pip(
    locked_release: Path,
    pip_installs: dict[str | None, tuple[Path, subprocess.CompletedProcess[str]]],
    tmp_path: Path,
) -> None:
    for extra in SMOKE:
        target = tmp_path / f"venv-{extra or 'base'}"
        python = fresh_venv(target)
        done = subprocess.run(
            [
                uv_binary(),
                "pip",
                "install",
                "--python",
                str(python),
                "-r",
                str(locked_release / pylock_name(extra)),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert installed(python) == installed(pip_installs[extra][0])
        smoke = subprocess.run([str(python), "-c", SMOKE[extra]], capture_output=True, text=True)
        assert smoke.returncode == 0, smoke.stderr


def test_lock_files_are_in_the_manifest_and_checked(locked_release: Path, tmp_path: Path) -> None:
    listed = {record.filename for record in load_manifest(locked_release).locks}
    assert set(LOCK_NAMES) == listed
    sums = (locked_release / "SHA256SUMS").read_text()
    assert all(f"  {name}\n" in sums for name in LOCK_NAMES)
    assert check_directory(locked_release).ok

    copy = tmp_path / "dist"
    shutil.copytree(locked_release, copy)
    (copy / "pylock.local.toml").write_text((copy / "pylock.local.toml").read_text() + "\n")
    (copy / "sbom.cdx.json").unlink()
    problems = {(p.kind, p.filename) for p in check_directory(copy).problems}
    assert problems == {("mismatch", "pylock.local.toml"), ("missing", "sbom.cdx.json")}


def test_lock_refuses_a_directory_without_a_wheel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dask_kubernetes-2026.3.0.tar.gz").write_bytes(b"sdist")
    assert main(["lock", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path}: lock needs exactly one wheel, found 0\n"
    assert not list(tmp_path.glob("pylock*")) and not list(tmp_path.glob("requirements*"))


def test_uv_comes_from_the_locked_toolchain() -> None:
    lock = (Path(__file__).resolve().parents[3] / "release" / "requirements.lock").read_text()
    assert re.search(r"^uv==[\d.]+ \\\n    --hash=sha256:", lock, re.M)
    assert Path(uv_binary()).is_file() and sys.prefix in uv_binary()
