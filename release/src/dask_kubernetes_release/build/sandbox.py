"""Run an sdist's build hooks confined: no network, an unprivileged user, one writable directory.

Why: `release rebuild` builds a wheel from an sdist its user does not trust yet, and a build
backend (an in-tree `backend-path` backend, a hatch build hook, setup.py) is arbitrary code.
Each hook runs under `unshare` (util-linux) in fresh mount, network (loopback only, down), PID,
IPC and UTS namespaces; sandbox_init.py then hides /tmp, /var/tmp, /dev/shm, /run, /root and
/home, makes every mount read-only except the private scratch directory, and drops to an
unprivileged user: uid 65534 (nobody) when the caller is root, else the caller's own uid in a
user namespace, with no capabilities and no_new_privs. The hook gets a minimal environment (no
inherited variables, so no tokens), its pyproject_hooks control files are copied into the
scratch directory and its answer copied back out (a regular file of bounded size).

When no sandbox can be made (no `unshare`, user namespaces disabled) the rebuild stops with one
line; it never falls back to running the code unconfined on its own.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dask_kubernetes_release.core.errors import UsageError

if TYPE_CHECKING:
    from build import RunnerType as _Runner

NOBODY = 65534
HOOK_ANSWER_MAX_BYTES = 1024 * 1024
BUILT_MAX_BYTES = 1024 * 1024 * 1024
HOOK_TIMEOUT_SECONDS = 30 * 60  # then the hook and everything it started are killed
_INIT = Path(__file__).with_name("sandbox_init.py")
_NAMESPACES = ["--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child"]
_NO_CAPABILITIES = ["--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"]


class Sandbox:
    """The confinement of one rebuild, inside `scratch` (a private directory the caller owns).

    The hooks may write `scratch/sandbox` (the unpacked sdist, the output, HOME, TMPDIR) and
    their own control directory `scratch/hook-N`, nothing else. Anything the caller takes back
    out is opened without following a link (the sandbox's user owns those trees)."""

    def __init__(self, scratch: Path, readable: Sequence[Path]) -> None:
        self.scratch = scratch.resolve()
        self.scratch.chmod(0o711)  # the sandbox's user reaches its directories, nothing else
        self.workdir = self.scratch / "sandbox"
        self.readable = [Path(p).resolve() for p in readable]
        self.root = os.geteuid() == 0
        self._hooks = 0
        for name in ("home", "tmp", "out"):
            (self.workdir / name).mkdir(parents=True, exist_ok=True)

    def command(self, argv: Sequence[str], writable: Sequence[Path] = ()) -> list[str]:
        """`argv` wrapped: unshare, then sandbox_init.py, then the unprivileged command."""
        unshare, setpriv = _tool("unshare"), _tool("setpriv")
        if self.root:
            outer = [unshare, *_NAMESPACES, "--mount-proc", "--"]
            ids = [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
            drop = [setpriv, *ids, *_NO_CAPABILITIES, "--"]
        else:
            user = ["--user", "--map-root-user"]
            outer = [setpriv, "--no-new-privs", unshare, *user, *_NAMESPACES, "--mount-proc"]
            outer.append("--")
            drop = [unshare, "--user", f"--map-user={os.getuid()}", f"--map-group={os.getgid()}"]
            drop.append("--")
        config = {
            "writable": [str(self.workdir), *map(str, writable)],
            "readable": [str(p) for p in self.readable],
            "drop": drop,
        }
        init = [sys.executable, "-I", "-S", "-c", _INIT.read_text(encoding="utf-8")]
        return [*outer, *init, json.dumps(config), "--", *argv]

    def environment(self, extra: Mapping[str, str]) -> dict[str, str]:
        """A minimal environment: nothing inherited, so no token or proxy reaches the hook."""
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.workdir / "home"),
            "TMPDIR": str(self.workdir / "tmp"),
            "LC_ALL": "C.UTF-8",
            **extra,
        }

    def hand_over(self, *also: Path) -> None:
        """Give the writable trees to the sandbox's user (root's sandbox runs as nobody).

        Never through a link, and never a file with a second name (which could be elsewhere)."""
        if not self.root:
            return
        for top_dir in (self.workdir, *also):
            os.chown(top_dir, NOBODY, NOBODY, follow_symlinks=False)
            for top, dirs, files in os.walk(top_dir):
                for name in [*dirs, *files]:
                    path = Path(top) / name
                    info = path.lstat()
                    if stat.S_ISDIR(info.st_mode) or info.st_nlink == 1:
                        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)

    def probe(self) -> None:
        """Make the sandbox once with a harmless command: unavailable means stop, with one line."""
        argv = [sys.executable, "-I", "-S", "-c", "pass"]
        try:
            command = self.command(argv)
        except FileNotFoundError as exc:
            raise UsageError(_unavailable(str(exc))) from None
        try:
            result = subprocess.run(
                command,
                cwd=self.workdir,
                env=self.environment({}),
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UsageError(_unavailable(str(exc))) from None
        if result.returncode != 0:
            raise UsageError(_unavailable(_last_line(result.stderr, result.returncode)))

    def runner(self, extra: Mapping[str, str], errors: list[str]) -> _Runner:
        """A pypa-build runner that runs each hook inside the sandbox."""

        def run(
            cmd: Sequence[str],
            cwd: str | None = None,
            extra_environ: Mapping[str, str] | None = None,
        ) -> None:
            python, script, hook, control = cmd  # pyproject_hooks: PYTHON SCRIPT HOOK CONTROL_DIR
            self._hooks += 1
            own = self.scratch / f"hook-{self._hooks}"  # in the caller's directory: not replaceable
            own.mkdir()
            shutil.copyfile(script, own / "_in_process.py")
            shutil.copyfile(Path(control) / "input.json", own / "input.json")
            self.hand_over(own)
            argv = [python, str(own / "_in_process.py"), hook, str(own)]
            environ = self.environment({**(extra_environ or {}), **extra})
            try:
                result = subprocess.run(
                    self.command(argv, writable=[own]),
                    cwd=cwd,
                    env=environ,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=HOOK_TIMEOUT_SECONDS,
                )
            except subprocess.TimeoutExpired:  # unshare is killed, and with it its PID namespace
                errors.append(f"its {hook} hook ran longer than {HOOK_TIMEOUT_SECONDS} s")
                raise subprocess.CalledProcessError(-9, cmd) from None
            if result.returncode != 0:
                errors.append(_last_line(result.stderr, result.returncode))
                raise subprocess.CalledProcessError(
                    result.returncode, cmd, result.stdout, result.stderr
                )
            answer = _read_regular(own / "output.json", HOOK_ANSWER_MAX_BYTES, "hook's answer")
            (Path(control) / "output.json").write_bytes(answer)

        return run

    def take_out(self, built: Path, into: Path, limit: int) -> Path:
        """Copy a file the hooks made (under `workdir`) into `into`, following no link."""
        try:
            relative = built.relative_to(self.workdir)
        except ValueError:
            raise UsageError(f"build backend failed: it named {built} outside its output") from None
        parent = os.open(self.workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for part in relative.parts[:-1]:
                try:
                    step = os.open(part, _NO_LINK | os.O_DIRECTORY, dir_fd=parent)
                except OSError as exc:
                    raise UsageError(f"build backend failed: {part}/: {exc.strerror}") from None
                os.close(parent)
                parent = step
            data = _read_regular(Path(relative.name), limit, "built file", dir_fd=parent)
        finally:
            os.close(parent)
        target = into / relative.name
        target.write_bytes(data)
        return target


_NO_LINK = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK


def _last_line(stderr: str, returncode: int) -> str:
    """The hook's last line of stderr, printable and bounded (it is the sdist's text)."""
    lines = stderr.strip().splitlines()
    line = lines[-1] if lines else f"exit {returncode}"
    return "".join(c if c.isprintable() else "?" for c in line)[:400]


def _tool(name: str) -> str:
    """util-linux's `name`, found on the caller's PATH (the hook's PATH is not consulted)."""
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"no {name} on PATH")
    return found


def _read_regular(path: Path, limit: int, what: str, dir_fd: int | None = None) -> bytes:
    """A regular file's bytes (never through a link the hook planted), at most `limit`."""
    try:
        fd = os.open(path, _NO_LINK, dir_fd=dir_fd)
    except OSError as exc:
        raise UsageError(f"build backend failed: no usable {what} ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise UsageError(f"build backend failed: its {what} is not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"build backend failed: its {what} is larger than {limit} bytes")
    return data


def _unavailable(reason: str) -> str:
    return (
        f"cannot confine the build ({reason}); rebuild runs the sdist's build code only in a "
        "sandbox (util-linux unshare and setpriv, and user namespaces when not root), "
        "or with --no-sandbox"
    )
