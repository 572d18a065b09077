"""Create `.venv` from the hash-locked requirements and re-run the command inside it.

Why: the README's two commands must work on a machine with only python3 and git, and every
dependency must come from the project's own hash-locked files. Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASE_LOCK = ROOT / "release" / "requirements.lock"
DEV_LOCK = ROOT / "tests" / "requirements.lock"
# The toolkit's import package (`dask_kubernetes_release`) lives here, beside this stdlib shim.
TOOLKIT_SRC = ROOT / "release" / "src"
ENV_VAR = "DASK_K8S_VENV"
# Commands that only read files or print help need no environment of their own.
_STDLIB_ONLY = {"bootstrap"}


def venv_dir() -> Path:
    return Path(os.environ.get(ENV_VAR, ROOT / ".venv")).resolve()


def venv_python(env: Path) -> Path:
    return env / "bin" / "python"


def _inside(env: Path) -> bool:
    return Path(sys.prefix).resolve() == env


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for path in (DEV_LOCK, ROOT / "pyproject.toml", TOOLKIT_SRC.parent / "pyproject.toml"):
        digest.update(path.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def _say(message: str) -> None:
    print(f"[bootstrap] {message}", file=sys.stderr, flush=True)


def setup(env: Path) -> None:
    """Make `env` hold exactly the locked dependencies plus this project and its toolkit."""
    stamp = env / ".dask-kubernetes-stamp"
    want = _fingerprint()
    if stamp.exists() and stamp.read_text().strip() == want and venv_python(env).exists():
        return
    if not venv_python(env).exists():
        _say(f"creating {env}")
        venv.EnvBuilder(with_pip=True, clear=False, upgrade_deps=False).create(env)
    py = str(venv_python(env))
    pip = [py, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    _say(f"installing {DEV_LOCK.relative_to(ROOT)} (hash-checked)")
    subprocess.run([*pip, "install", "--require-hashes", "-r", str(DEV_LOCK)], check=True)
    _say("installing dask-kubernetes (editable, build backend from the lock)")
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(ROOT)], check=True
    )
    _say("installing the release toolkit (editable, release/pyproject.toml)")
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(TOOLKIT_SRC.parent)],
        check=True,
    )
    tmp = stamp.with_suffix(".tmp")
    tmp.write_text(want + "\n")
    tmp.replace(stamp)


def _only_asks(argv: list[str]) -> bool:
    """The CLI's own test (`--help`, `--version`, no command): its module imports only the
    standard library, so it is importable here before any environment exists."""
    if str(TOOLKIT_SRC) not in sys.path:
        sys.path.insert(0, str(TOOLKIT_SRC))
    from dask_kubernetes_release.cli import only_asks

    return only_asks(argv)


def ensure_environment(argv: list[str]) -> None:
    """Re-exec `python -m release ARGV` inside the project environment unless already there.

    A question (cli.only_asks) never sets anything up: it is answered inside an existing .venv,
    else right here with the standard library (a command whose options need packages that are
    not installed says so in its help)."""
    env = venv_dir()
    if not _inside(env) and _only_asks(argv):
        if venv_python(env).exists() and os.environ.get("DASK_K8S_NO_BOOTSTRAP") != "1":
            os.chdir(ROOT)
            py = str(venv_python(env))
            os.execv(py, [py, "-m", "release", *argv])  # noqa: S606 - as it is, no setup
        return
    if argv[:1] and argv[0] in _STDLIB_ONLY:
        try:
            setup(env)
        except subprocess.CalledProcessError as exc:
            _say(f"error: setting up {env} failed (exit {exc.returncode})")
            raise SystemExit(2) from None
        raise SystemExit(0)
    if _inside(env) or os.environ.get("DASK_K8S_NO_BOOTSTRAP") == "1":
        return
    try:
        setup(env)
    except subprocess.CalledProcessError as exc:
        _say(f"error: setting up {env} failed (exit {exc.returncode})")
        raise SystemExit(2) from None
    os.chdir(ROOT)
    py = str(venv_python(env))
    os.execv(py, [py, "-m", "release", *argv])  # noqa: S606 - re-run ourselves in the venv
