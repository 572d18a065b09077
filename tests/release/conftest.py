"""Fixtures for the release toolkit's tests: real builds of clean clones, shared across the
session; the release CLI in-process; the reference `pypi-attestations` CLI; fixture copies."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from dask_kubernetes_release.build.command import build_distributions
from dask_kubernetes_release.cli import main as release_main

Clone = Callable[[Path], Path]
TwoBuilds = tuple[list[Path], list[Path]]


def _clone(repo_root: Path, into: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(repo_root), str(into)], check=True)
    return into


def _snapshot_of_work_tree(repo_root: Path, into: Path) -> Path:
    """Clone, then copy in every tracked or new (not ignored) file of the work tree: the tools
    as they are now, committed or not, in a clone with no .venv of its own."""
    subprocess.run(["git", "clone", "-q", str(repo_root), str(into)], check=True)
    listed = subprocess.run(
        ["git", "-C", str(repo_root), "ls-files", "-z", "--cached", "--others",
         "--exclude-standard"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source, target = repo_root / name, into / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    return into


@pytest.fixture(scope="session")
def snapshot_work_tree(repo_root: Path) -> Clone:
    """Snapshot the work tree into a path (`_snapshot_of_work_tree`)."""
    return lambda into: _snapshot_of_work_tree(repo_root, into)


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
    from dask_kubernetes_release.cli import main

    out = tmp_path_factory.mktemp("locked") / "dist"
    out.mkdir()
    for path in two_builds[0]:
        shutil.copy2(path, out / path.name)
    assert main(["manifest", str(out)]) == 0
    assert main(["lock", str(out)]) == 0
    return out


# -- attestation tests: the release CLI in-process, and the reference CLI -------------------------

REFERENCE_CLI = Path(sys.executable).parent / "pypi-attestations"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def release(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """`python -m release ARGS` in this process (fast: the trust root is parsed once)."""

    def run(*argv: object) -> Result:
        capsys.readouterr()
        try:
            code = release_main([str(a) for a in argv])
        except SystemExit as exc:  # argparse errors and --help
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def empty_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture
def reference(empty_home: Path) -> Callable[..., Result]:
    """The reference tool, `pypi-attestations`, with an empty HOME (no cached trust root)."""

    def run(*argv: object) -> Result:
        env = {**os.environ, "HOME": str(empty_home)}
        env.pop("XDG_CACHE_HOME", None)
        env.pop("XDG_DATA_HOME", None)
        proc = subprocess.run(
            [str(REFERENCE_CLI), *map(str, argv)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=60,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def fixture_copy(attestation_fixtures: Path, tmp_path: Path) -> Callable[..., Path]:
    """Copy named fixture files into a fresh directory (writable, for tampering)."""

    def copy(*names: str, into: str = "evidence") -> Path:
        target = tmp_path / into
        target.mkdir(exist_ok=True)
        for name in names:
            shutil.copyfile(attestation_fixtures / name, target / name)
        return target

    return copy
