"""Verify 50 attested distributions: one `release verify` call vs 50 `pypi-attestations` calls.

Both verify the same real PyPI attestations offline with the same identity policy. Ours loads
the trust root once and checks every file in one process; the peer starts a process, loads
the trust root and re-parses everything once per file.

    .venv/bin/python bench/bench_verify.py [--count 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures" / "pypi-attestations"
DIST = "pypi_attestations-0.0.19.tar.gz"
EVIDENCE = (f"{DIST}.publish.attestation", f"{DIST}.slsa.attestation")
IDENTITY = "https://github.com/trailofbits/pypi-attestations/.github/workflows/release.yml@refs/tags/v0.0.19"
PEER = Path(sys.executable).parent / "pypi-attestations"


def _stage(root: Path, count: int) -> list[Path]:
    """`count` copies of the distribution and its two attestations, each in its own directory."""
    dists = []
    for index in range(count):
        where = root / f"copy{index:03d}"
        where.mkdir()
        for name in (DIST, *EVIDENCE):
            shutil.copyfile(FIXTURES / name, where / name)
        dists.append(where / DIST)
    return dists


def _run(argv: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv[:4])} ...\n{proc.stdout}{proc.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    count = parser.parse_args().count
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        env = {**os.environ, "HOME": str(home), "DASK_K8S_NO_BOOTSTRAP": "1"}
        dists = _stage(root, count)

        started = time.perf_counter()
        ours = [sys.executable, "-m", "release", "verify", *map(str, dists), "--identity", IDENTITY]
        _run(ours, {**env, "PYTHONPATH": str(ROOT)})
        ours_s = time.perf_counter() - started

        started = time.perf_counter()
        for dist in dists:
            peer = [str(PEER), "verify", "attestation", "--offline", "--identity", IDENTITY]
            _run([*peer, str(dist)], env)
        peer_s = time.perf_counter() - started

    print(f"files verified (2 attestations each): {count}")
    print(f"release verify, one call:             {ours_s:7.2f} s")
    print(f"pypi-attestations verify, {count} calls:  {peer_s:7.2f} s")
    print(f"ratio: {peer_s / ours_s:.1f}x faster (target >= 5x)")


if __name__ == "__main__":
    main()
