"""`python -m dask_kubernetes.operator`: run the controller (kopf) against the current kubeconfig.

Scope: `--namespace NS` (repeatable) or `--all-namespaces` (the default). More than one replica
needs `--peering NAME` (kopf peering: one active replica); otherwise it runs standalone.
"""

from __future__ import annotations

import argparse
import logging
import secrets
from collections.abc import Sequence

from dask_kubernetes.common.cli import ArgumentParser


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m dask_kubernetes.operator", description=__doc__)
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", help="watch this namespace")
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch all namespaces (default)"
    )
    peering = parser.add_mutually_exclusive_group()
    peering.add_argument("--standalone", action="store_true", help="no peering (one replica)")
    peering.add_argument(
        "--peering", metavar="NAME", help="kopf peering object for leader election"
    )
    parser.add_argument(
        "--priority",
        type=int,
        help="peering priority; default random, so exactly one replica (the highest) is active",
    )
    parser.add_argument("--liveness", metavar="URL", help="e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _priority(args: argparse.Namespace) -> int:
    """Same-priority peers all pause in kopf; distinct random ones elect the highest as leader."""
    if args.priority is not None:
        return int(args.priority)
    return secrets.randbelow(2**31 - 1) + 1 if args.peering else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_or_exit(argv, "dask-kubernetes-operator")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    import kopf  # heavy: only once the arguments are known to be good

    from dask_kubernetes.operator import controller  # noqa: F401 - registers the handlers
    from dask_kubernetes.operator.plugins import load_plugins

    load_plugins()
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace or (),
        standalone=not args.peering,
        peering_name=args.peering,
        priority=_priority(args),
        liveness_endpoint=args.liveness,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
