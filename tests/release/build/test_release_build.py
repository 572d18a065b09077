"""Real builds: reproducible across clones, CalVer from tags, hash-pinned backend, and the
`pip install --require-hashes` a user runs, in a fresh virtual environment."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from dask_kubernetes_release.build.command import build_distributions, twine_check
from dask_kubernetes_release.build.env import ensure_build_env
from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.requirements import read_lock
from dask_kubernetes_release.manifest.command import write_manifest

Clone = Callable[[Path], Path]
TwoBuilds = tuple[list[Path], list[Path]]


@pytest.mark.slow
def test_two_clones_give_byte_identical_sdist_and_wheel(two_builds: TwoBuilds) -> None:
    first, second = two_builds
    assert [p.name for p in first] == [p.name for p in second]
    assert first[0].name.endswith(".tar.gz") and first[1].name.endswith("-py3-none-any.whl")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert first[0].parent != second[0].parent


@pytest.mark.slow
def test_built_files_pass_twine_check_strict(two_builds: TwoBuilds) -> None:
    twine_check(two_builds[0])  # raises CheckFailed otherwise
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, two_builds[0])],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and result.stdout.count("PASSED") == 2, result.stdout


@pytest.mark.slow
def test_tagged_commit_builds_that_calver_version(clone_repo: Clone, tmp_path: Path) -> None:
    source = clone_repo(tmp_path / "tagged")
    subprocess.run(["git", "-C", str(source), "tag", "2026.11.0"], check=True)
    built = build_distributions(tmp_path / "dist", source=source)
    assert [p.name for p in built] == [
        "dask_kubernetes-2026.11.0.tar.gz",
        "dask_kubernetes-2026.11.0-py3-none-any.whl",
    ]


@pytest.mark.slow
def test_dirty_tree_is_refused_unless_allowed(clone_repo: Clone, tmp_path: Path) -> None:
    source = clone_repo(tmp_path / "dirty")
    (source / "stray.py").write_text("print('uncommitted')\n")
    with pytest.raises(UsageError, match=r"1 uncommitted change\(s\) \(stray\.py\)"):
        build_distributions(tmp_path / "dist", source=source)
    assert not (tmp_path / "dist").exists()
    built = build_distributions(tmp_path / "dist", source=source, allow_dirty=True)
    assert len(built) == 2


@pytest.mark.slow
def test_rebuild_replaces_stale_outputs(
    two_builds: TwoBuilds, clone_repo: Clone, tmp_path: Path
) -> None:
    out = tmp_path / "dist"
    out.mkdir()
    stale_files = ("dask_kubernetes-1999.1.0.tar.gz", "manifest.json", "build-toolchain.json")
    for stale in (*stale_files, "notes.md"):
        (out / stale).write_text("old")
    built = build_distributions(out, source=clone_repo(tmp_path / "src"))
    kept = ["notes.md", "build-toolchain.json"]  # the latter rewritten for this build
    assert sorted(p.name for p in out.iterdir()) == sorted([*(p.name for p in built), *kept])
    assert (out / "build-toolchain.json").read_text() != "old"
    assert [p.read_bytes() for p in built] == [p.read_bytes() for p in two_builds[0]]


def pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    return subprocess.run(command, capture_output=True, text=True)


@pytest.mark.slow
def test_fresh_venv_installs_with_hashes_and_refuses_one_changed_byte(
    built_dir: Path, tmp_path: Path
) -> None:
    manifest = write_manifest(built_dir)
    (wheel_record,) = [r for r in manifest.files if r.filename.endswith(".whl")]

    tampered = tmp_path / "tampered"
    shutil.copytree(built_dir, tampered)
    data = bytearray((tampered / wheel_record.filename).read_bytes())
    data[len(data) // 2] ^= 0x01
    (tampered / wheel_record.filename).write_bytes(bytes(data))

    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"

    def install(directory: Path) -> subprocess.CompletedProcess[str]:
        return pip(
            python,
            "install",
            "--no-index",
            "--no-deps",
            "--require-hashes",
            "--find-links",
            str(directory),
            "-r",
            str(directory / "requirements.txt"),
        )

    refused = install(tampered)
    assert refused.returncode != 0
    assert "DO NOT MATCH THE HASHES" in refused.stderr
    assert wheel_record.sha256 in refused.stderr  # pip names the hash it expected

    accepted = install(built_dir)
    assert accepted.returncode == 0, accepted.stderr
    shown = pip(python, "show", "dask-kubernetes")
    assert f"Version: {manifest.version}" in shown.stdout


@pytest.mark.slow
def test_build_env_fails_loudly_when_the_lock_lacks_a_dependency(
    repo_root: Path, tmp_path: Path
) -> None:
    lock_text = (repo_root / "release" / "requirements.lock").read_text()
    entries = lock_text.split("\npathspec==", 1)
    after = entries[1].split("\n", 1)[1]
    while after.startswith(("    ", "\t")):  # drop the entry's hash and `# via` lines
        after = after.split("\n", 1)[1]
    doctored = tmp_path / "requirements.lock"
    doctored.write_text(entries[0] + "\n" + after)
    assert "pathspec" not in read_lock(doctored)
    with pytest.raises(UsageError, match=r"needs pathspec, which .* does not pin"):
        ensure_build_env(["hatchling"], doctored, tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []  # nothing half-made kept


def test_lock_entries_follow_this_interpreter(repo_root: Path) -> None:
    locked = read_lock(repo_root / "release" / "requirements.lock")
    hatchling = locked[canonicalize_name("hatchling")]
    assert hatchling.hashes and all(h.startswith("sha256:") for h in hatchling.hashes)
    ours = sys.version_info >= (3, 11)
    assert ("tomli" in locked) is not ours  # `tomli; python_version < "3.11"`
    assert "pywin32-ctypes" not in locked  # win32 only
