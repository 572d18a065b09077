"""Where the repository is: the maintainer commands work on a clone of dask-kubernetes.

Why one place: build, chart, tag, provenance and the pipeline all resolve files from the
checkout's root; they must agree on it. The toolkit runs from a clone (`python3 -m release`, or
the clone's editable install in .venv), and then the clone is the one around this file. Installed
from a wheel (`pip install dask-kubernetes-release`), this file sits in site-packages, which is
no clone: the clone is then the working directory or one of its parents, as for git. Outside
any clone a maintainer command stops with one line (exit 2); verification needs no clone.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from dask_kubernetes_release.core.errors import UsageError

# The verifier's own project (dask-kubernetes-release) in the clone, and where its distributions
# land inside a release directory: dist/toolkit/ beside dist/'s dask-kubernetes files (one project
# per directory, as `manifest` requires).
TOOLKIT_DIR = "release"
TOOLKIT_SUBDIR = "toolkit"
RELEASE_LOCK_PATH = Path(TOOLKIT_DIR) / "requirements.lock"
PROJECT_NAME = "dask-kubernetes"
TOOLKIT_NAME = "dask-kubernetes-release"


def _names(pyproject: Path, name: str) -> bool:
    """`pyproject` exists and its [project] is `name` (a line match: stdlib only, no TOML)."""
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return re.search(rf'^name\s*=\s*"{re.escape(name)}"\s*$', text, flags=re.MULTILINE) is not None


def is_clone(path: Path) -> bool:
    """A dask-kubernetes checkout: its pyproject.toml names the project, release/'s the toolkit."""
    return _names(path / "pyproject.toml", PROJECT_NAME) and _names(
        path / TOOLKIT_DIR / "pyproject.toml", TOOLKIT_NAME
    )


def find_clone(start: Path) -> Path | None:
    """The clone holding `start` (itself or its nearest parent that is one), or None."""
    start = start.resolve()
    return next((p for p in (start, *start.parents) if is_clone(p)), None)


@cache
def repository_root() -> Path:
    """The clone the maintainer commands work on; UsageError (exit 2) outside any clone."""
    around_this_file = Path(__file__).resolve().parents[4]  # release/src/<pkg>/core/paths.py
    if is_clone(around_this_file):
        return around_this_file
    cwd = Path.cwd()
    found = find_clone(cwd)
    if found is None:
        raise UsageError(
            f"{cwd} is not inside a clone of {PROJECT_NAME} (no pyproject.toml naming "
            f"{PROJECT_NAME} beside {TOOLKIT_DIR}/ here or above): run this command from a clone"
        )
    return found


def release_lock() -> Path:
    """The clone's hash-locked toolchain (build backend, build, twine...)."""
    return repository_root() / RELEASE_LOCK_PATH


def toolkit_source() -> Path:
    """The verifier's project directory (release/) in the clone."""
    return repository_root() / TOOLKIT_DIR
