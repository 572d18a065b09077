"""`python -m dask_kubernetes.gateway --config FILE`: dask-gateway-server with our backend.

The same as `dask-gateway-server -f FILE` except that `c.DaskGateway.backend_class` defaults to
`OperatorBackend`, so a config file need not name it (one that does still wins).
"""

from __future__ import annotations

import sys
from pathlib import Path

BACKEND = "dask_kubernetes.gateway.backend.OperatorBackend"


def _config_file(argv: list[str]) -> str | None:
    """The value of `--config FILE`, `--config=FILE`, `-f FILE` or `-f=FILE`, if given."""
    for index, arg in enumerate(argv):
        for flag in ("--config", "-f"):
            if arg == flag and index + 1 < len(argv):
                return argv[index + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
    return None


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    try:
        from dask_gateway_server.app import DaskGateway
    except ModuleNotFoundError:
        print(
            "error: dask-gateway-server is not installed: pip install 'dask-kubernetes[gateway]'",
            file=sys.stderr,
        )
        sys.exit(2)
    from traitlets import TraitError
    from traitlets.config import Config

    args = sys.argv[1:] if argv is None else argv
    config_file = _config_file(args)
    if config_file is not None and not Path(config_file).is_file():
        _fail(f"no config file {config_file}")
    defaults = Config()
    defaults.DaskGateway.backend_class = BACKEND
    app = DaskGateway.instance()
    app.update_config(defaults)
    try:
        app.initialize(args)  # a bad value: it logs one line and exits 1 ...
    except (TraitError, ValueError) as exc:
        _fail(f"bad configuration: {exc}".splitlines()[0])
    except SystemExit as exc:
        sys.exit(2 if exc.code not in (0, None) else 0)  # ... unusable input: 2
    app.start()


if __name__ == "__main__":
    main()
