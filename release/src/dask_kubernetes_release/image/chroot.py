"""Run a recipe's COPY and RUN steps on top of a cached root filesystem; keep only the change.

Why overlayfs in a private mount namespace: the Debian tree stays untouched in the cache (it is
the lower layer), and the upper directory afterwards holds exactly the files the steps added,
changed or removed: that directory is the image's next layer, as a container builder's would
be. The mounts (overlay, /proc, a minimal /dev, the host's resolv.conf for pip to reach PyPI,
and the host's CA bundle (a host behind a TLS-inspecting proxy trusts its CA; the image must
not) live in a namespace made by `unshare`, so they vanish with its process, whether the step ends,
fails or is killed; nothing is left mounted on the host.

The RUN text runs as Docker runs it: `/bin/sh -c TEXT`, as root, with the recipe's ENV. Added
for the Debian base, and said here: PIP_BREAK_SYSTEM_PACKAGES=1 (Debian marks its Python
externally managed; pip then installs into /usr/local, which Debian's python3 searches) and
SOURCE_DATE_EPOCH (pip compiles .pyc files with checked hashes instead of timestamps, PEP 552).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from dask_kubernetes_release.core.errors import CheckFailed, UsageError

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
HOST_FILES = ("etc/resolv.conf", "etc/ssl/certs/ca-certificates.crt")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# $1 lower, $2 upper, $3 work, $4 merged, $5 staged files; then the chroot command.
_SCRIPT = """
set -eu
lower=$1 upper=$2 work=$3 merged=$4 staged=$5
shift 5
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$merged"
mount -t proc proc "$merged/proc"
mount -t tmpfs -o mode=0755,size=1m tmpfs "$merged/dev"
for device in {devices}; do
    : > "$merged/dev/$device"
    mount --bind "/dev/$device" "$merged/dev/$device"
done
mkdir "$merged/dev/shm"
mount -t tmpfs -o mode=1777 tmpfs "$merged/dev/shm"
mount --bind /etc/resolv.conf "$merged/etc/resolv.conf"
mount --bind /etc/ssl/certs/ca-certificates.crt "$merged/etc/ssl/certs/ca-certificates.crt"
# COPY: files only; directories that exist keep their mode (/tmp stays 1777), as Docker's do.
(cd "$staged" && find . -type f) | while read -r file; do
    mkdir -p "$merged/$(dirname "$file")"
    cp --preserve=mode "$staged/$file" "$merged/$file"
done
exec chroot "$merged" "$@"
"""


def run_steps(
    lower: Path,
    upper: Path,
    scratch: Path,
    staged: Path,
    command: str,
    env: Mapping[str, str],
    log: Path,
) -> str:
    """Run `/bin/sh -c command` over `lower` with `staged`'s files copied in; `upper` receives
    the change. Returns the step's output; CheckFailed (pip's first ERROR line, else the last
    line) when it fails, with the whole output kept in `log`."""
    if shutil.which("unshare") is None:
        raise UsageError("the image's install step needs `unshare` (util-linux)")
    for name in HOST_FILES:
        if not (lower / name).exists() or not Path("/", name).exists():
            raise UsageError(f"no {name} in {lower} or on the host to mount over it")
    work, merged = scratch / "work", scratch / "merged"
    for directory in (upper, work, merged):
        directory.mkdir(parents=True, exist_ok=True)
    script = _SCRIPT.format(devices=" ".join(DEVICES))
    argv = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--fork",
        "--kill-child",
        "sh",
        "-c",
        script,
        "image-step",
        str(lower),
        str(upper),
        str(work),
        str(merged),
        str(staged),
        "/usr/bin/env",
        "-i",
        *(f"{key}={value}" for key, value in env.items()),
        "/bin/sh",
        "-c",
        command,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(merged, ignore_errors=True)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(output, encoding="utf-8")
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith(("ERROR:", "install-wheel:"))]
        reason = (errors or lines or ["(no output)"])[0 if errors else -1]
        raise CheckFailed(
            f"the image's RUN step failed (exit {done.returncode}): {reason} (output: {log})"
        )
    _drop_mount_targets(lower, upper)
    return output


def _drop_mount_targets(lower: Path, upper: Path) -> None:
    """What the mounts themselves may leave in the upper directory: mount points that exist
    in the lower tree are not copied up, so there is nothing to drop unless a step wrote
    through them; /tmp's copy-up (its mtime changed) is kept, it is harmless and empty."""
    for name in ("proc", "dev"):
        target = upper / name
        if target.exists() and (lower / name).exists() and not any(target.iterdir()):
            target.rmdir()
