"""An independent reader of what the image builder writes, for the tests: an OCI archive's
index, manifest and config, and its layers applied in order (whiteouts honoured) to a tree."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any


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


def run_in_image(
    root: Path, config: dict[str, Any], argv: list[str], *, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `argv` in the image tree as its config says (ENTRYPOINT + argv, USER, ENV), on a
    read-only root filesystem with only /proc mounted, in a private mount namespace: what the
    chart's securityContext asks of the runtime, minus the runtime."""
    runtime = config["config"]
    command = [*runtime.get("Entrypoint", []), *argv]
    uid_gid = user or runtime.get("User") or "0:0"
    script = (
        'set -e; root=$1; shift; mount --bind "$root" "$root"; '
        'mount -o remount,bind,ro "$root"; mount -t proc proc "$root/proc"; '
        'exec chroot --userspec="$USERSPEC" "$root" "$@"'
    )
    return subprocess.run(
        [
            "unshare", "--mount", "--propagation", "private", "--fork", "--kill-child",
            "sh", "-c", script, "in-image", str(root),
            "/usr/bin/env", "-i", *runtime.get("Env", []), *command,
        ],
        env={"USERSPEC": uid_gid, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )  # fmt: skip
