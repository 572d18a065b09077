"""`python -m dask_kubernetes.operator.crds {check,generate} CHART [--version V]`.

`check` exits 0 when the chart is in sync, 1 with a one-line reason on drift, 2 on bad input.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from dask_kubernetes.common.cli import ArgumentParser
from dask_kubernetes.operator.crds._chart_sync import ChartError, find_drift, generate


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m dask_kubernetes.operator.crds", description=__doc__)
    parser.add_argument("command", choices=("check", "generate"))
    parser.add_argument("chart", type=Path, help="the chart directory, e.g. charts/NAME")
    parser.add_argument("--version", help="the release version the chart must carry")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_or_exit(argv, "crds")
    try:
        if args.command == "generate":
            for path in generate(args.chart, args.version):
                print(f"wrote {path}")
            return 0
        drift = find_drift(args.chart, args.version)
    except (ChartError, OSError) as exc:
        print(f"crds: {exc}", file=sys.stderr)
        return 2
    if drift:
        print("crds: " + "; ".join(item.reason for item in drift), file=sys.stderr)
        return 1
    print(f"{args.chart}: CRDs and version in sync")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
