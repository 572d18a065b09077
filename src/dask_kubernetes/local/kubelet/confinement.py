"""What a container process is confined to, applied in the child between fork and exec.

`admission` decides it from the pod's security settings; this module only carries it out, in
this order (each step needs the privileges the next one gives up):
1. a private mount namespace whose mounts are all read-only but the pod's own directories
   (`readOnlyRootFilesystem`; without root, inside a user namespace of the process's own ids);
2. capabilities dropped from the bounding set (`capabilities.drop`; needs root), so neither the
   process nor a set-user-ID program it runs can hold them after exec;
3. the groups, group and user (`supplementalGroups`/`fsGroup`, `runAsGroup`, `runAsUser`);
4. the parent-death signal (a change of user clears it, so it comes after) and `no_new_privs`
   (`allowPrivilegeEscalation: false`).
Any failure raises, and `subprocess` reports it as the start's error: nothing runs half-confined.
"""

from __future__ import annotations

import ctypes
import os
import signal
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_AT_FDCWD = -100
_AT_RECURSIVE = 0x8000
_MOUNT_ATTR_RDONLY = 0x1
_SYS_MOUNT_SETATTR = 442  # the same number on every architecture (asm-generic, since 5.12)

#: Linux capability numbers by the names a pod spec uses (`capabilities.drop: [NET_RAW]`).
CAPABILITIES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
)


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def last_capability() -> int:
    """The highest capability number this kernel knows."""
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return len(CAPABILITIES) - 1


@dataclass(frozen=True)
class Confinement:
    """None/empty/False: leave as the kubelet's own process is."""

    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] | None = None
    read_only_root: bool = False
    writable: tuple[str, ...] = ()
    drop_capabilities: tuple[int, ...] = ()
    no_new_privs: bool = False

    def apply(self) -> None:  # pragma: no cover - runs in the child between fork and exec
        libc = ctypes.CDLL(None, use_errno=True)
        if self.read_only_root:
            _read_only_root(libc, self.writable)
        for capability in self.drop_capabilities:
            _check(libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0), "dropping a capability")
        if self.drop_capabilities:
            _check(
                libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0),
                "clearing ambient capabilities",
            )
        if self.groups is not None:
            os.setgroups(list(self.groups))
        if self.gid is not None:
            os.setresgid(self.gid, self.gid, self.gid)
        if self.uid is not None:
            os.setresuid(self.uid, self.uid, self.uid)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if self.no_new_privs:
            _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "setting no_new_privs")


def _check(result: int, what: str) -> None:  # pragma: no cover - runs in the child
    if result != 0:
        errno = ctypes.get_errno()
        # subprocess reports only "Exception occurred in preexec_fn": say why in the log (stderr).
        os.write(2, f"cannot confine the container: {what}: {os.strerror(errno)}\n".encode())
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _read_only_root(
    libc: ctypes.CDLL, writable: tuple[str, ...]
) -> None:  # pragma: no cover - runs in the child between fork and exec
    """Every mount of a private mount namespace read-only, except (bind mounts of) `writable`.

    Without root, the mount namespace comes with a user namespace mapping only the process's own
    uid and gid (what any user may create), so nothing else changes for the process."""
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        _check(libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    else:
        _check(libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS), "unshare(CLONE_NEWUSER|CLONE_NEWNS)")
        for name, line in (
            ("setgroups", "deny"),
            ("uid_map", f"{uid} {uid} 1"),
            ("gid_map", f"{gid} {gid} 1"),
        ):
            fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
    _check(libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "making / private")
    for path in writable:  # a mount of its own, so it can be writable again below
        raw = os.fsencode(path)
        _check(libc.mount(raw, raw, None, _MS_BIND | _MS_REC, None), f"bind-mounting {path}")
    _mount_setattr(libc, b"/", _AT_RECURSIVE, _MountAttr(attr_set=_MOUNT_ATTR_RDONLY))
    for path in writable:
        _mount_setattr(libc, os.fsencode(path), 0, _MountAttr(attr_clr=_MOUNT_ATTR_RDONLY))


def _mount_setattr(
    libc: ctypes.CDLL, path: bytes, flags: int, attr: _MountAttr
) -> None:  # pragma: no cover - runs in the child between fork and exec
    size = ctypes.sizeof(attr)
    result = libc.syscall(_SYS_MOUNT_SETATTR, _AT_FDCWD, path, flags, ctypes.byref(attr), size)
    _check(result, f"mount_setattr({path!r})")


#: The kubelet's own process, as is (its uid, its capabilities); still dies with the kubelet.
UNCONFINED = Confinement()
