"""The file trees of "scratch" images: static binaries and nothing else.

Why these and not a Debian root filesystem: the sandbox (pause) container and CoreDNS run one
static program; anything more is bytes to audit and attack surface. The pause program is
compiled here from native/pause.c with `gcc -static` (no registry to pull Kubernetes' from; the
source is ours); busybox comes from Debian's `busybox-static` package, fetched with apt (the
host's sources) and kept in the cache, so a test can run a shell and common tools in a
container; any other binary (CoreDNS, built by the node's toolchain) is taken from a path.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from dask_kubernetes_release.core.digests import sha256_file
from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.image.sbom import Component

PAUSE_SOURCE = Path(__file__).resolve().parent / "native" / "pause.c"
# Flags that keep the binary a function of the source and the compiler: no build paths.
PAUSE_FLAGS = ("-static", "-O2", "-Wall", "-Wextra", "-Werror", "-s", "-ffile-prefix-map=/=/")
BUSYBOX_PACKAGE = "busybox-static"
ELF = b"\x7fELF"


def _run(argv: list[str], what: str, *, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UsageError(f"{what} needs {argv[0]!r}, which is not installed") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise CheckFailed(f"{what} failed ({argv[0]} exit {done.returncode}): {last}")
    return done.stdout


def _gcc_version() -> str:
    return _run(["gcc", "-dumpfullversion"], "compiling pause").strip()


def pause_tree(tree: Path) -> list[Component]:
    """/pause, compiled from native/pause.c; the component records the source and compiler."""
    target = tree / "pause"
    with tempfile.TemporaryDirectory(prefix="pause-") as work:
        source = Path(work) / "pause.c"
        shutil.copyfile(PAUSE_SOURCE, source)
        _run(["gcc", *PAUSE_FLAGS, "-o", "pause", "pause.c"], "compiling pause", cwd=Path(work))
        shutil.copyfile(Path(work) / "pause", target)
    target.chmod(0o755)
    return [
        Component(
            kind="file",
            name="pause",
            version=f"gcc-{_gcc_version()}",
            sha256=sha256_file(target),
            source=f"native/pause.c sha256:{sha256_file(PAUSE_SOURCE)}",
        )
    ]


def binary_tree(tree: Path, binary: Path, target: str) -> list[Component]:
    """One static executable at `target` (an absolute path inside the image)."""
    if not binary.is_file():
        raise UsageError(f"{binary}: no such file")
    with binary.open("rb") as data:
        if data.read(4) != ELF:
            raise UsageError(f"{binary}: not an ELF executable")
    if not target.startswith("/") or ".." in target.split("/"):
        raise UsageError(f"target path {target!r} must be absolute, without '..'")
    dest = tree / target.lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(binary, dest)
    dest.chmod(0o755)
    return [Component(kind="file", name=dest.name, version="", sha256=sha256_file(dest))]


def fetch_deb(package: str, cache: Path) -> Path:
    """The candidate .deb of `package` from the host's apt sources, kept in `cache/debs`."""
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    version = _run(["apt-cache", "policy", package], f"looking up {package}").split("Candidate:", 1)
    if len(version) != 2 or version[1].split()[0] == "(none)":
        raise UsageError(f"apt has no candidate for {package}: run apt-get update")
    candidate = version[1].split()[0]
    found = sorted(debs.glob(f"{package}_{candidate.split(':')[-1]}_*.deb"))
    if found:
        return found[0]
    with tempfile.TemporaryDirectory(dir=debs, prefix=".download-") as work:
        _run(
            ["apt-get", "download", f"{package}={candidate}"],
            f"downloading {package}",
            cwd=Path(work),
        )
        (deb,) = Path(work).glob("*.deb")
        final = debs / deb.name
        deb.replace(final)
    return final


def busybox_tree(tree: Path, cache: Path) -> list[Component]:
    """/bin/busybox from Debian's busybox-static and a symlink per applet, /tmp, /etc/passwd."""
    deb = fetch_deb(BUSYBOX_PACKAGE, cache)
    fields = _run(
        ["dpkg-deb", "-f", str(deb), "Package", "Version"], "reading the .deb"
    ).splitlines()
    version = fields[1].split(":", 1)[1].strip()
    with tempfile.TemporaryDirectory(prefix="busybox-") as work:
        _run(["dpkg-deb", "-x", str(deb), work], "unpacking busybox-static")
        source = Path(work) / "bin" / "busybox"
        (tree / "bin").mkdir(parents=True)
        shutil.copyfile(source, tree / "bin" / "busybox")
    busybox = tree / "bin" / "busybox"
    busybox.chmod(0o755)
    applets = _run([str(busybox), "--list"], "listing busybox applets").split()
    for applet in sorted(set(applets)):
        if applet != "busybox" and "/" not in applet:
            (tree / "bin" / applet).symlink_to("busybox")
    (tree / "tmp").mkdir(mode=0o1777)
    (tree / "tmp").chmod(0o1777)
    (tree / "etc").mkdir()
    (tree / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n"
    )
    (tree / "etc" / "group").write_text("root:x:0:\nuser:x:1000:\n")
    return [
        Component(
            kind="deb",
            name=BUSYBOX_PACKAGE,
            version=version,
            sha256=sha256_file(deb),
            source=deb.name,
        )
    ]
