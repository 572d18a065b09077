"""Fixtures for the attestation tests: run the release CLI in-process, and the reference CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from release.cli import main as release_main

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
