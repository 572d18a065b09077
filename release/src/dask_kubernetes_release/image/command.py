"""`python -m release image KIND`: build an OCI image archive that `ctr images import` takes.

Kinds: `pause` (the sandbox image, compiled here), `busybox` (Debian's busybox-static, a tiny
image to test a container runtime with), `coredns --binary PATH` (a static binary built
elsewhere), `operator` and `dask` (Debian's Python plus the release's wheel and its hash-locked
closure, installed by release/docker's own steps). Each writes OUT (an OCI archive), OUT's SBOM
beside it (`NAME.cdx.json`), and with `--layout DIR` the OCI layout directory too; it prints
`NAME@DIGEST -> OUT`. Images are reproducible: the same inputs and SOURCE_DATE_EPOCH (default:
HEAD's commit time) give the same manifest digest.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from dask_kubernetes_release.build.chart import source_date_epoch
from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.image.assemble import Built, single_layer_image
from dask_kubernetes_release.image.oci import RuntimeConfig, parse_reference
from dask_kubernetes_release.image.scratch import binary_tree, busybox_tree, pause_tree

KINDS = ("pause", "busybox", "coredns", "operator", "dask")
DEFAULT_NAMES = {
    "pause": "localhost/dask-kubernetes/pause:1",
    "busybox": "localhost/dask-kubernetes/busybox:1",
    "coredns": "localhost/dask-kubernetes/coredns:1",
}


def default_cache() -> Path:
    """~/.cache/dask-kubernetes/images (XDG_CACHE_HOME honoured), next to the control plane's."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dask-kubernetes" / "images"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="which image to build")
    parser.add_argument(
        "--out", type=Path, help="the OCI archive to write (default images/KIND.oci.tar)"
    )
    parser.add_argument("--name", help="NAME:TAG the archive carries (default per kind)")
    parser.add_argument("--layout", type=Path, help="also keep the OCI layout in this directory")
    parser.add_argument("--cache", type=Path, default=None, help="cache directory")
    parser.add_argument("--binary", type=Path, help="coredns: the static CoreDNS binary")
    parser.add_argument(
        "--dist", type=Path, help="operator/dask: the dist directory (wheel + SHA256SUMS)"
    )
    parser.add_argument("--suite", default=None, help="operator/dask: the Debian suite")
    parser.add_argument("--mirror", default=None, help="operator/dask: the Debian mirror URL")
    parser.add_argument(
        "--refresh", action="store_true", help="rebuild the cached Debian root filesystem"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="run the install step again (keep the Debian tree)"
    )


def build_scratch(kind: str, args: argparse.Namespace, epoch: int, out: Path) -> Built:
    cache = args.cache or default_cache()
    reference = parse_reference(args.name or DEFAULT_NAMES[kind])
    with tempfile.TemporaryDirectory(prefix=f"image-{kind}-") as work:
        tree = Path(work) / "tree"
        tree.mkdir()
        if kind == "pause":
            components = pause_tree(tree)
            runtime = RuntimeConfig(entrypoint=["/pause"], user="65535:65535")
            step = "gcc -static native/pause.c -> /pause"
        elif kind == "busybox":
            components = busybox_tree(tree, cache)
            runtime = RuntimeConfig(cmd=["/bin/sh"], env={"PATH": "/bin"})
            step = "busybox-static from Debian -> /bin"
        else:
            if args.binary is None:
                raise UsageError("coredns needs --binary PATH (the static CoreDNS executable)")
            components = binary_tree(tree, args.binary, "/coredns")
            runtime = RuntimeConfig(entrypoint=["/coredns"])
            step = f"{args.binary.name} -> /coredns"
        return single_layer_image(
            tree,
            runtime=runtime,
            reference=reference,
            epoch=epoch,
            archive=out,
            components=components,
            layout=args.layout,
            history=step,
        )


def run(args: argparse.Namespace) -> int:
    kind: str = args.kind
    out: Path = args.out or Path("images") / f"{kind}.oci.tar"
    if out.exists() and out.is_dir():
        raise UsageError(f"--out {out} is a directory; give the archive's file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    epoch = source_date_epoch()
    if kind in ("operator", "dask"):
        from dask_kubernetes_release.image.python import build_python_image

        built = build_python_image(kind, args, epoch, out, args.cache or default_cache())
    else:
        built = build_scratch(kind, args, epoch, out)
    print(built.summary())
    return 0
