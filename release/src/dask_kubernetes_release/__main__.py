"""`python -m dask_kubernetes_release COMMAND`: the CLI without the clone's bootstrap step."""

from __future__ import annotations

import sys

from dask_kubernetes_release.cli import main

if __name__ == "__main__":
    sys.exit(main())
