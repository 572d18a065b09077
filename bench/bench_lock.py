"""`release lock` for the full matrix, then installing the locked closure: pip beside uv.

Why: the lock runs in every release (four uv resolutions, the 4 Pythons x 5 platforms marker
check, the SBOM), and users install from its files with either tool; both costs should be known.
The install is timed into a fresh virtual environment each time, with each tool's cache warm
(a first untimed install fills it), so the figures compare the tools, not the network.

Run: .venv/bin/python bench/bench_lock.py [--dist DIR] [--repeat 2]
     (without --dist, builds the checkout first with `release build --allow-dirty`)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dask_kubernetes_release.lock.uv import uv_binary  # noqa: E402


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def release(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "release", *args], check=True, cwd=ROOT, stdout=subprocess.DEVNULL
    )


def fresh_python(where: Path) -> Path:
    shutil.rmtree(where, ignore_errors=True)
    venv.EnvBuilder(with_pip=True, symlinks=True).create(where)
    return where / "bin" / "python"


def pip_install(dist: Path, where: Path) -> Callable[[], None]:
    def install() -> None:
        python = fresh_python(where)
        command = [str(python), "-m", "pip", "install", "-q", "--require-hashes"]
        subprocess.run([*command, "-r", str(dist / "requirements.txt")], check=True)

    return install


def uv_install(dist: Path, where: Path) -> Callable[[], None]:
    def install() -> None:
        python = fresh_python(where)
        command = [uv_binary(), "pip", "install", "-q", "--python", str(python)]
        subprocess.run([*command, "-r", str(dist / "pylock.toml")], check=True)

    return install


def best(repeat: int, action: Callable[[], None]) -> float:
    action()  # fills the tool's cache: later runs measure the install, not the download
    return min(timed(action) for _ in range(repeat))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, help="a directory with one wheel and one sdist")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-lock-") as tmp:
        work = Path(tmp)
        dist = work / "dist"
        if args.dist:
            dist.mkdir()
            for path in [*args.dist.glob("*.whl"), *args.dist.glob("*.tar.gz")]:
                shutil.copy2(path, dist / path.name)
        else:
            release("build", "--allow-dirty", "--out", str(dist))
        release("manifest", str(dist))
        lock_seconds = timed(lambda: release("lock", str(dist)))
        pip_seconds = best(args.repeat, pip_install(dist, work / "pip-venv"))
        uv_seconds = best(args.repeat, uv_install(dist, work / "uv-venv"))
    print("| | wall time |\n|---|---|")
    print(f"| `release lock` (2 targets, 4 Pythons x 5 platforms, SBOM) | {lock_seconds:.2f} s |")
    pip_row = "pip install --require-hashes -r requirements.txt (fresh venv, warm cache)"
    print(f"| {pip_row} | {pip_seconds:.2f} s |")
    uv_row = "uv pip install -r pylock.toml (fresh venv, warm cache)"
    print(f"| {uv_row} | {uv_seconds:.2f} s |")
    print(f"| uv vs pip | {pip_seconds / uv_seconds:.1f}x faster |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
