"""Turn a container's `command`/`args` into an argv that runs here.

Images are not pulled, so a container without `command` runs its image's entrypoint from `images`
and then its `args`; for other images just its `args`, as images whose entrypoint executes its
arguments do (the Dask images). Programs resolve first in the compatibility shims, then
in the stand-in's own Python environment, then on the host PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dask_kubernetes.local.kubelet.expansion import expand
from dask_kubernetes.local.kubelet.images import entrypoint


class CommandError(Exception):
    """The container has nothing to run, or its program does not exist here."""


def search_path(shim_dir: Path, container_path: str | None = None) -> str:
    """PATH in pods: shims, our interpreter's bin dir, then the container's (or host's) PATH."""
    rest = container_path if container_path is not None else os.environ.get("PATH", "")
    parts = [str(shim_dir), str(Path(sys.executable).parent), rest]
    return os.pathsep.join(p for p in parts if p)


def container_argv(container: Mapping[str, Any], env: Mapping[str, str], path: str) -> list[str]:
    """The expanded argv with argv[0] resolved to an executable file."""
    command = list(container.get("command") or []) or list(entrypoint(container.get("image", "")))
    raw = command + list(container.get("args") or [])
    if not raw:
        image = container.get("image", "?")
        raise CommandError(f"container has no command or args (image {image!r} is not run)")
    argv = [expand(str(part), env) for part in raw]
    program = argv[0]
    if os.sep in program:
        if not os.access(program, os.X_OK):
            raise CommandError(f"{program}: no such executable")
        return argv
    found = shutil.which(program, path=path)
    if found is None:
        raise CommandError(f"{program!r}: executable file not found in $PATH")
    return [found, *argv[1:]]
