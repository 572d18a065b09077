"""Where the clone is: the real control plane is built from its tools/kube/ and given its chart.

Why one place: the build (`gomod.default_modules`) and the operator's RBAC on the real plane
(`controlplane.operator_chart`) both read files that only a clone of dask-kubernetes has. Run from
the clone (editable install, as `python3 -m release bootstrap` makes it), the clone is the one
around this file. Installed from a wheel, this file sits in site-packages, which is no clone: the
clone is then the working directory or one of its parents, as for git. Outside any clone the
caller gets `CloneNotFound`, one line saying so, instead of a path that does not exist.
"""

from __future__ import annotations

import re
from pathlib import Path

PROJECT_NAME = "dask-kubernetes"
KUBE_MODULES = Path("tools") / "kube"
NODE_MODULES = Path("tools") / "node"
OPERATOR_CHART = Path("charts") / "dask-kubernetes-operator"


class CloneNotFound(Exception):
    """No clone of dask-kubernetes here: the files the real control plane needs are absent."""


def is_clone(path: Path) -> bool:
    """A dask-kubernetes checkout: its pyproject.toml names the project and it has tools/kube/."""
    try:
        text = (path / "pyproject.toml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    named = re.search(rf'^name\s*=\s*"{re.escape(PROJECT_NAME)}"\s*$', text, flags=re.MULTILINE)
    return named is not None and (path / KUBE_MODULES).is_dir()


def repository_root(here: Path | None = None, cwd: Path | None = None) -> Path:
    """The clone around `here` (this file), else around `cwd` (the working directory);
    `CloneNotFound` outside one."""
    around = (here or Path(__file__)).resolve().parents[4]  # src/dask_kubernetes/local/provision/
    if is_clone(around):
        return around
    start = (cwd or Path.cwd()).resolve()
    for candidate in (start, *start.parents):
        if is_clone(candidate):
            return candidate
    raise CloneNotFound(
        f"{start} is not inside a clone of {PROJECT_NAME} (no pyproject.toml naming it beside "
        f"{KUBE_MODULES}/ here or above): the real control plane is built and run from a clone"
    )


def kube_modules() -> Path:
    """tools/kube/ of the clone: the pinned Go modules the binaries are built from."""
    return repository_root() / KUBE_MODULES


def node_modules() -> Path:
    """tools/node/ of the clone: the pinned Go modules the node's binaries are built from."""
    return repository_root() / NODE_MODULES


def operator_chart() -> Path:
    """charts/dask-kubernetes-operator of the clone: the RBAC the operator runs under."""
    return repository_root() / OPERATOR_CHART
