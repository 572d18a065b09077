"""`python -m dask_kubernetes_release.localsigstore build [--rebuild]`: build the local Sigstore.

.ci/run calls this after the control plane's build, under its own time cap: exit 0 when the
cached build is there (warm: seconds), 1 when the build failed (CI fails loudly), 2 on bad input.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from dask_kubernetes_release.localsigstore.build import BuildError, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dask_kubernetes_release.localsigstore")
    parser.add_argument("action", choices=["build"])
    parser.add_argument("--rebuild", action="store_true", help="build even when cached")
    args = parser.parse_args(argv)
    # `timeout` in .ci/run ends a slow build with SIGTERM: unwind, so no staging dir is left.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    started = time.monotonic()
    try:
        built = build(rebuild=args.rebuild)
    except BuildError as exc:
        print(f"error: local Sigstore build failed: {exc}", file=sys.stderr)
        return 1
    state = "cached" if built.warm else "built"
    print(f"local Sigstore {state} in {time.monotonic() - started:.1f} s: {built.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
