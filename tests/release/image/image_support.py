"""Helpers for the image tests: `release` as a user runs it, why the Python images cannot be
built here, and an independent reader of what the builder writes (an OCI archive's index,
manifest and config; its layers applied in order, whiteouts honoured; a command run in it)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
EPOCH = "1764979200"


def release(*argv: object, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`python -m release ARGS` as a user runs it, with a fixed SOURCE_DATE_EPOCH."""
    return subprocess.run(
        [sys.executable, "-m", "release", *map(str, argv)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH},
        check=False,
        timeout=timeout,
    )


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=10):
            return True
    except OSError:
        return False


def python_images_unavailable() -> str | None:
    """Why the operator and Dask images cannot be built here, or None."""
    if os.geteuid() != 0:
        return "needs root (mmdebstrap --mode=root, overlayfs, chroot)"
    for tool in ("mmdebstrap", "unshare", "chroot"):
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install mmdebstrap util-linux coreutils)"
    for host, port in (("deb.debian.org", 80), ("pypi.org", 443)):
        if not _reachable(host, port):
            return f"needs the network: {host}:{port} is not reachable"
    return None


def read_archive(archive: Path, into: Path) -> dict[str, Any]:
    """Extract the OCI archive; return {index, manifest, config, blobs}."""
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    index = json.loads((into / "index.json").read_text())
    blobs = into / "blobs" / "sha256"
    (entry,) = index["manifests"]
    manifest = json.loads((blobs / entry["digest"].split(":")[1]).read_text())
    config = json.loads((blobs / manifest["config"]["digest"].split(":")[1]).read_text())
    return {"index": index, "manifest": manifest, "config": config, "blobs": blobs}


def apply_layers(image: dict[str, Any], root: Path) -> None:
    """The image's filesystem at `root`, as a runtime's snapshotter would build it (as root:
    owners and modes kept)."""
    root.mkdir(parents=True, exist_ok=True)
    for layer in image["manifest"]["layers"]:
        with tarfile.open(image["blobs"] / layer["digest"].split(":")[1]) as tar:
            members = tar.getmembers()
            for member in members:
                head, _, name = member.name.rpartition("/")
                if name == ".wh..wh..opq":
                    for child in (root / head).iterdir():
                        _remove(child)
                elif name.startswith(".wh."):
                    _remove(root / head / name[4:])
            kept = [m for m in members if not m.name.rpartition("/")[2].startswith(".wh.")]
            tar.extractall(root, members=kept, numeric_owner=True, filter="fully_trusted")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


# The /dev a runtime gives every container: a few device nodes and a writable /dev/shm.
DEV = (
    'mount -t tmpfs -o mode=0755 tmpfs "$root/dev"; '
    'for d in null zero full random urandom; do : > "$root/dev/$d"; '
    'mount --bind "/dev/$d" "$root/dev/$d"; done; '
    'mkdir "$root/dev/shm"; mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"; '
)


def in_image(
    root: Path,
    config: dict[str, Any],
    argv: list[str],
    *,
    user: str | None = None,
    writable_tmp: bool = False,
) -> tuple[list[str], dict[str, str]]:
    """(argv, env) that run `argv` in the image tree as its config says (ENTRYPOINT + argv,
    USER, ENV), on a read-only root filesystem with /proc and a runtime's /dev (and with
    `writable_tmp` a tmpfs at /tmp, as a pod's emptyDir), in a private mount namespace: what
    a pod's securityContext asks of the runtime, minus the runtime."""
    runtime = config["config"]
    command = [*runtime.get("Entrypoint", []), *argv]
    tmp = 'mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"; ' if writable_tmp else ""
    script = (
        'set -e; root=$1; shift; mount --bind "$root" "$root"; '
        'mount -o remount,bind,ro "$root"; mount -t proc proc "$root/proc"; '
        f'{DEV}{tmp}exec chroot --userspec="$USERSPEC" "$root" "$@"'
    )
    full = [
        "unshare", "--mount", "--propagation", "private", "--fork", "--kill-child",
        "sh", "-c", script, "in-image", str(root),
        "/usr/bin/env", "-i", *runtime.get("Env", []), *command,
    ]  # fmt: skip
    env = {
        "USERSPEC": user or runtime.get("User") or "0:0",
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    return full, env


def run_in_image(
    root: Path, config: dict[str, Any], argv: list[str], *, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`in_image`, run to completion (read-only root, nothing writable)."""
    full, env = in_image(root, config, argv, user=user)
    return subprocess.run(full, env=env, capture_output=True, text=True, check=False, timeout=120)
