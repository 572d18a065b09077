"""Fixtures for the release core: real builds of clean clones, shared across the session."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from release._build import build_distributions

Clone = Callable[[Path], Path]
TwoBuilds = tuple[list[Path], list[Path]]


def _clone(repo_root: Path, into: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(repo_root), str(into)], check=True)
    return into


@pytest.fixture(scope="session")
def clone_repo(repo_root: Path) -> Clone:
    """Clone the repository into a path: the last committed state, which is what is released."""
    return lambda into: _clone(repo_root, into)


@pytest.fixture(scope="session")
def two_builds(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> TwoBuilds:
    """Two builds of one commit from two clones at different paths (sdist first, then wheel)."""
    base = tmp_path_factory.mktemp("two-builds")
    first, second = (
        build_distributions(base / f"{name}-dist", source=_clone(repo_root, base / name))
        for name in ("clone-a", "somewhere/else/clone-b")
    )
    return first, second


@pytest.fixture
def built_dir(two_builds: TwoBuilds, tmp_path: Path) -> Path:
    """A private copy of one build's distributions, free to tamper with."""
    out = tmp_path / "dist"
    out.mkdir()
    for path in two_builds[0]:
        shutil.copy2(path, out / path.name)
    return out


@pytest.fixture
def fake_release(tmp_path: Path, make_dist: Callable[..., Path]) -> Path:
    """A directory with a small real wheel and sdist (metadata only, no code): fast tests."""
    directory = tmp_path / "fake-dist"
    directory.mkdir()
    make_dist(directory, "dask_kubernetes-2026.3.0-py3-none-any.whl", padding=141_000)
    make_dist(directory, "dask_kubernetes-2026.3.0.tar.gz", padding=84_000)
    return directory


@pytest.fixture(scope="session")
def locked_release(two_builds: TwoBuilds, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real build, its manifest, then `release lock` (uv resolves against the index here).

    Read-only for the tests: copy it (`shutil.copytree`) before tampering.
    """
    from release.cli import main

    out = tmp_path_factory.mktemp("locked") / "dist"
    out.mkdir()
    for path in two_builds[0]:
        shutil.copy2(path, out / path.name)
    assert main(["manifest", str(out)]) == 0
    assert main(["lock", str(out)]) == 0
    return out
