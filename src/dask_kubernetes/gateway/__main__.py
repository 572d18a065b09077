"""`python -m dask_kubernetes.gateway --config FILE`: dask-gateway-server with our backend.

The same as `dask-gateway-server -f FILE` except that `c.DaskGateway.backend_class` defaults to
`OperatorBackend`, so a config file need not name it (one that does still wins).
"""

from __future__ import annotations

import sys

BACKEND = "dask_kubernetes.gateway.backend.OperatorBackend"


def main(argv: list[str] | None = None) -> None:
    try:
        from dask_gateway_server.app import DaskGateway
    except ModuleNotFoundError:
        print(
            "error: dask-gateway-server is not installed: pip install 'dask-kubernetes[gateway]'",
            file=sys.stderr,
        )
        sys.exit(2)
    from traitlets.config import Config

    defaults = Config()
    defaults.DaskGateway.backend_class = BACKEND
    app = DaskGateway.instance()
    app.update_config(defaults)
    app.initialize(sys.argv[1:] if argv is None else argv)
    app.start()


if __name__ == "__main__":
    main()
