"""The first step inside the rebuild sandbox, as root of its own user namespace (see sandbox.py).

Why a separate script: it runs before any untrusted code, with `python -I -S` and the standard
library only, between `unshare` (fresh user, mount, network, PID, IPC and UTS namespaces) and
the build hook. It hides the shared temporary directories and the home directories (/tmp,
/var/tmp, /dev/shm, /run, /root, /home) under empty tmpfs, binds back at their own paths the
scratch directory (writable) and what the build reads (the interpreter, the build environment),
makes every other mount read-only, and then runs the command through `drop`, which leaves it an
unprivileged user without capabilities over these mounts (sandbox.py chooses it): the hook can
neither write outside the scratch directory nor undo the read-only mounts. Any step that fails
stops here, before the command runs. This script stays PID 1 of the namespace while the command
runs, and when it exits (or is killed) every process of the namespace goes with it.

Usage: python -I -S -c SOURCE CONFIG_JSON -- COMMAND...
CONFIG_JSON: {"writable": [paths], "readable": [paths], "drop": [the command prefix]}
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from pathlib import Path

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_RELATIME = 1 << 21
# A remount inside a user namespace must keep these flags as they are (they are locked).
_KEPT = (
    (os.ST_NOSUID, MS_NOSUID),
    (os.ST_NODEV, MS_NODEV),
    (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, MS_NOATIME),
    (os.ST_NODIRATIME, MS_NODIRATIME),
    (os.ST_RELATIME, MS_RELATIME),
)
# Hidden under an empty read-only tmpfs: shared scratch space, sockets, home directories.
HIDDEN = ("/tmp", "/var/tmp", "/dev/shm", "/run", "/root", "/home")  # noqa: S108
# Kernel interfaces whose writes need privileges the sandbox's user never has; left as they
# are (a read-only /proc would also stop the nested user namespace's uid_map).
PSEUDO = frozenset(
    {
        *("proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "nsfs", "binfmt_misc"),
        *("autofs", "debugfs", "tracefs", "securityfs", "pstore", "bpf", "fusectl"),
        *("configfs", "hugetlbfs", "efivarfs", "selinuxfs", "rpc_pipefs"),
    }
)

_libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(Exception):
    """A step that must succeed before the command may run."""


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str) -> None:
    def c(text: str | None) -> bytes | None:
        return None if text is None else os.fsencode(text)

    if _libc.mount(c(source), c(target), c(fstype), flags, c(data or None)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno), target)


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


def _mounts() -> list[tuple[str, set[str], str]]:
    """(mount point, per-mount options, filesystem type) of every mount, outermost first."""
    found = []
    with Path("/proc/self/mountinfo").open(encoding="utf-8") as handle:
        for line in handle:
            before, _, after = line.partition(" - ")
            fields = before.split()
            found.append((_unescape(fields[4]), set(fields[5].split(",")), after.split()[0]))
    return found


def _make_read_only(point: str) -> None:
    flags = MS_BIND | MS_REMOUNT | MS_RDONLY
    current = os.statvfs(point).f_flag
    for st_flag, ms_flag in _KEPT:
        if current & st_flag:
            flags |= ms_flag
    _mount(None, point, None, flags, "")


def confine(writable: list[str], readable: list[str]) -> None:
    """Hide HIDDEN, bind back `writable` and `readable` at their paths, the rest read-only."""
    kept = [*writable, *readable]
    held = [os.open(path, os.O_PATH | os.O_DIRECTORY) for path in kept]
    for path in HIDDEN:
        if Path(path).is_dir() and not Path(path).is_symlink():
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for path, fd in zip(kept, held, strict=True):
        Path(path).mkdir(mode=0o755, parents=True, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND, "")
        os.close(fd)
    for point, options, fstype in _mounts():
        if point in writable or "ro" in options or fstype in PSEUDO:
            continue
        try:
            _make_read_only(point)
        except FileNotFoundError:
            continue  # under a hidden directory: out of reach
        except OSError as exc:
            raise SandboxError(f"cannot make {point} ({fstype}) read-only: {exc}") from None


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("sandbox: usage: sandbox_init.py CONFIG -- COMMAND...", file=sys.stderr)
        return 125
    config = json.loads(argv[1])
    cwd = Path.cwd()
    try:
        confine([str(p) for p in config["writable"]], [str(p) for p in config["readable"]])
        os.chdir(cwd)
    except (SandboxError, OSError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 125
    drop = [str(word) for word in config["drop"]]
    return supervise([*drop, *argv[3:]])


def supervise(command: list[str]) -> int:
    """Run `command` as a child and stay PID 1 of the namespace until it exits.

    Why not exec it: `unshare --kill-child` kills PID 1 when unshare dies (a timeout), and the
    kernel then kills every process of the namespace. A PID 1 that dropped its user ID would have
    lost that parent-death signal; this one keeps it, so nothing the hook starts outlives it."""
    child = os.fork()
    if child == 0:
        try:
            os.execvp(command[0], command)  # noqa: S606 - our own command line
        finally:
            os._exit(127)
    while True:
        pid, status = os.waitpid(-1, 0)  # also reaps orphans the namespace hands to PID 1
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
