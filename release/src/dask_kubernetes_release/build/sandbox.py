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
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dask_kubernetes_release.core.errors import UsageError

if TYPE_CHECKING:
    from build import RunnerType as _Runner

NOBODY = 65534
HOOK_ANSWER_MAX_BYTES = 1024 * 1024
_INIT = Path(__file__).with_name("sandbox_init.py")
_NAMESPACES = ["--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child"]
_NO_CAPABILITIES = ["--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"]


class Sandbox:
    """The confinement of one rebuild: `workdir` is the only directory its hooks may write."""

    def __init__(self, workdir: Path, readable: Sequence[Path]) -> None:
        self.workdir = workdir.resolve()
        self.readable = [Path(p).resolve() for p in readable]
        self.root = os.geteuid() == 0
        for name in ("hooks", "home", "tmp"):
            (self.workdir / name).mkdir(parents=True, exist_ok=True)

    def command(self, argv: Sequence[str]) -> list[str]:
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
            "writable": [str(self.workdir)],
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

    def hand_over(self) -> None:
        """Give the scratch tree to the sandbox's user (root's sandbox runs as nobody)."""
        if not self.root:
            return
        os.chown(self.workdir, NOBODY, NOBODY)
        for top, dirs, files in os.walk(self.workdir):
            for name in [*dirs, *files]:
                os.chown(Path(top) / name, NOBODY, NOBODY, follow_symlinks=False)

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
            lines = result.stderr.strip().splitlines()
            raise UsageError(_unavailable(lines[-1] if lines else f"exit {result.returncode}"))

    def runner(self, extra: Mapping[str, str], errors: list[str]) -> _Runner:
        """A pypa-build runner that runs each hook inside the sandbox."""

        def run(
            cmd: Sequence[str],
            cwd: str | None = None,
            extra_environ: Mapping[str, str] | None = None,
        ) -> None:
            python, script, hook, control = cmd  # pyproject_hooks: PYTHON SCRIPT HOOK CONTROL_DIR
            own = Path(tempfile.mkdtemp(dir=self.workdir / "hooks", prefix=f"{hook}-"))
            shutil.copyfile(script, own / "_in_process.py")
            shutil.copyfile(Path(control) / "input.json", own / "input.json")
            self.hand_over()
            argv = [python, str(own / "_in_process.py"), hook, str(own)]
            environ = self.environment({**(extra_environ or {}), **extra})
            result = subprocess.run(
                self.command(argv), cwd=cwd, env=environ, capture_output=True, text=True
            )
            if result.returncode != 0:
                lines = result.stderr.strip().splitlines()
                errors.append(lines[-1] if lines else f"exit {result.returncode}")
                raise subprocess.CalledProcessError(
                    result.returncode, cmd, result.stdout, result.stderr
                )
            answer = _read_answer(own / "output.json")
            (Path(control) / "output.json").write_bytes(answer)

        return run


def _tool(name: str) -> str:
    """util-linux's `name`, found on the caller's PATH (the hook's PATH is not consulted)."""
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"no {name} on PATH")
    return found


def _read_answer(path: Path) -> bytes:
    """The hook's output.json: a regular file (never a link the hook planted), bounded."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise UsageError(f"the build hook left no usable answer ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise UsageError("the build hook's answer is not a regular file")
        data = handle.read(HOOK_ANSWER_MAX_BYTES + 1)
    if len(data) > HOOK_ANSWER_MAX_BYTES:
        raise UsageError(f"the build hook's answer is larger than {HOOK_ANSWER_MAX_BYTES} bytes")
    return data


def _unavailable(reason: str) -> str:
    return (
        f"cannot confine the build ({reason}); rebuild runs the sdist's build code only in a "
        "sandbox (util-linux unshare and setpriv, and user namespaces when not root), "
        "or with --no-sandbox"
    )
