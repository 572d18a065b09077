"""A cold `verify` of one file: dask-kubernetes-release vs pypi-attestations, side by side.

Both tools are installed in one fresh virtual environment that holds only the
dask-kubernetes-release wheel and its hash-locked closure (which brings pypi-attestations), as a
security team would install it. Each run is a new process with an empty HOME (no cached trust
root), verifying pypi_attestations-0.0.19.tar.gz's publish attestation offline against the
same identity; the best of N runs is compared.

    .venv/bin/python bench/bench_verify_cold.py [--runs 5] [--venv DIR]

Without --venv it builds the toolkit wheel and creates the venv first (a few minutes once).
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
sys.path[:0] = [str(ROOT / "tests" / "release" / "verify"), str(ROOT / "release" / "src")]

from toolkit_env import CONSOLE_SCRIPT, make_venv  # noqa: E402 - after the path setup

FIXTURES = ROOT.parent / "shared" / "fixtures" / "pypi-attestations"
DIST = "pypi_attestations-0.0.19.tar.gz"
ATTESTATION = f"{DIST}.publish.attestation"
IDENTITY = "https://github.com/trailofbits/pypi-attestations/.github/workflows/release.yml@refs/tags/v0.0.19"


def _toolkit_venv(where: Path) -> Path:
    from dask_kubernetes_release.build.command import build_distributions

    built = build_distributions(where / "dist", allow_dirty=True, source=ROOT / "release",
                                lock=ROOT / "release" / "requirements.lock")  # fmt: skip
    wheel = next(p for p in built if p.name.endswith(".whl"))
    return make_venv(where / "venv", wheel)


def _best(argv: list[str], runs: int, env: dict[str, str], cwd: Path) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"failed: {' '.join(argv[:3])} ...\n{proc.stdout}{proc.stderr}")
        best = min(best, elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--venv", type=Path, help="an existing toolkit venv (its directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bin_dir = args.venv / "bin" if args.venv else _toolkit_venv(work)
        for name in (DIST, ATTESTATION):
            shutil.copyfile(FIXTURES / name, work / name)
        home = work / "home"
        home.mkdir()
        env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "HOME": str(home)}
        ours = [str(bin_dir / CONSOLE_SCRIPT), "verify", DIST, "--attestation", ATTESTATION,
                "--identity", IDENTITY]  # fmt: skip
        peer = [str(bin_dir / "pypi-attestations"), "verify", "attestation", "--offline",
                "--identity", IDENTITY, DIST]  # fmt: skip
        ours_s = _best(ours, args.runs, env, work)
        peer_s = _best(peer, args.runs, env, work)
        help_s = _best([str(bin_dir / CONSOLE_SCRIPT), "verify", "--help"], args.runs, env, work)
    print(f"cold verify of one file, best of {args.runs} (fresh process, empty HOME):")
    print(f"  dask-kubernetes-release verify:   {ours_s:6.3f} s")
    print(f"  pypi-attestations verify:         {peer_s:6.3f} s")
    print(f"  ratio (peer / ours):              {peer_s / ours_s:6.2f}x")
    print(f"  dask-kubernetes-release verify --help: {help_s:6.3f} s")


if __name__ == "__main__":
    main()
