"""`python -m release COMMAND`: sets up the hash-locked environment if needed, then dispatches.

Only the standard library may be imported here: this runs first on a machine that has
nothing but python3 and git.
"""

from __future__ import annotations

import sys

from release._bootstrap import ensure_environment


def main() -> None:
    ensure_environment(sys.argv[1:])
    from release.cli import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
