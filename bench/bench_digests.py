"""Three digests of one large file: `release manifest --json` vs coreutils, one after the other.

Why: `release manifest` reads each file once and hashes it with sha256, md5 and blake2b-256
concurrently (hashlib releases the GIL). Targets: at least 3x faster than running `sha256sum`,
`md5sum` and `b2sum -l 256` in sequence, and within 1.3x of the slowest single digest alone.

Run: .venv/bin/python bench/bench_digests.py [--size-mib 512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dask_kubernetes_release.core.digests import ALGORITHMS, CHUNK_SIZE, digest_file  # noqa: E402

COREUTILS = (["sha256sum"], ["md5sum"], ["b2sum", "-l", "256"])


def best_of(repeat: int, action: Callable[[], object]) -> float:
    """Fastest of `repeat` runs: the least disturbed by other work on the machine."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def run(*command: str) -> None:
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def command(*argv: str) -> Callable[[], None]:
    return lambda: run(*argv)


def single_digest(name: str, path: Path) -> Callable[[], str]:
    def digest() -> str:
        h = ALGORITHMS[name]()
        with path.open("rb", buffering=0) as stream:
            while chunk := stream.read(CHUNK_SIZE):
                h.update(chunk)
        return h.hexdigest()

    return digest


def make_file(directory: Path, size_mib: int) -> Path:
    path = directory / "payload.bin"
    with path.open("wb") as out:
        for _ in range(size_mib):
            out.write(os.urandom(1024 * 1024))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-digests-") as tmp:
        path = make_file(Path(tmp), args.size_mib)
        run("cat", str(path))  # page cache warm for everyone
        cli = [sys.executable, "-m", "release", "manifest", "--json", str(path)]
        env_note = f"(page cache warm; best of {args.repeat})"

        coreutils = {" ".join(c): best_of(args.repeat, command(*c, str(path))) for c in COREUTILS}
        coreutils_total = sum(coreutils.values())
        singles = {name: best_of(args.repeat, single_digest(name, path)) for name in ALGORITHMS}
        ours_inprocess = best_of(args.repeat, lambda: digest_file(path))
        ours_cli = best_of(args.repeat, command(*cli))
        startup = best_of(args.repeat, command(*cli[:4], "--help"))

    slowest_name, slowest = max(singles.items(), key=lambda item: item[1])
    print(f"{args.size_mib} MiB file, {os.cpu_count()} CPUs {env_note}")
    for name, seconds in coreutils.items():
        print(f"  {name:<24} {seconds:7.2f} s")
    print(f"  {'coreutils, in sequence':<24} {coreutils_total:7.2f} s")
    for name, seconds in singles.items():
        print(f"  {'hashlib ' + name + ' alone':<24} {seconds:7.2f} s")
    print(f"  {'release manifest --json':<24} {ours_cli:7.2f} s  (start-up {startup:.2f} s)")
    print(f"  {'digest_file (in process)':<24} {ours_inprocess:7.2f} s")
    print()
    print(
        f"speed-up vs coreutils sequence: {coreutils_total / ours_cli:.2f}x (command), "
        f"{coreutils_total / ours_inprocess:.2f}x (hashing)   target >= 3x"
    )
    print(
        f"vs slowest single digest ({slowest_name}): {ours_cli / slowest:.2f}x (command), "
        f"{ours_inprocess / slowest:.2f}x (hashing)   target <= 1.3x"
    )


if __name__ == "__main__":
    main()
