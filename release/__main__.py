"""`python -m release COMMAND`: sets up the hash-locked environment if needed, then dispatches.

Only the standard library may be imported here: this runs first on a machine that has
nothing but python3 and git. The toolkit itself is the `dask_kubernetes_release` package in
release/src; it is put on the path here, so a clone needs no install step (release.yml's jobs
install only release/requirements.lock and run this module). `--help` and `--version` set
nothing up (bootstrap.ensure_environment).
"""

from __future__ import annotations

import sys

from release.bootstrap import TOOLKIT_SRC, ensure_environment


def main() -> None:
    ensure_environment(sys.argv[1:])
    if str(TOOLKIT_SRC) not in sys.path:
        sys.path.insert(0, str(TOOLKIT_SRC))
    from dask_kubernetes_release.cli import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
