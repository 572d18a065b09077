"""The images that ship, built here from the release's own wheel, for the container node.

Why: on `--node=containers` the operator runs from the operator image the chart installs, and
KubeCluster's schedulers and workers from the Dask image, so what the suites exercise is what
release.yml builds and pushes. The wheel is built as release.yml's build job builds it (`release
build` of a clone of HEAD, then `release manifest`), the images by `release image operator|dask`
(release/docker's own steps), the sandbox image by `release image pause`.

Cached so a warm session spends about a second here: the dist by HEAD's commit (the build is
reproducible from it), the image archives by the wheel's sha256 (what the images hold). A cold
build is the wheel (about 20 s) plus the install layer (pip, a minute or two) plus the Debian
tree the first time on a machine. Anything missing (no root, no mmdebstrap, no network for a
cold build) skips with the reason, never fails the session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from dask_kubernetes_release.core.digests import sha256_file

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("pause", "operator", "dask")
RECORD = "images.json"
#: The Debian suite whose python3 is this interpreter's minor version. The Dask image must match
#: the client's Python: functions the client pickles by value (lambdas, closures) carry bytecode,
#: and a worker on another minor version crashes on it (SIGSEGV, seen here: a 3.11 client and
#: trixie's 3.13). The operator image is built as it ships (the default suite): no client code
#: runs in it.
DASK_SUITES = {(3, 11): "bookworm", (3, 13): "trixie"}
#: The Dask image's name: fixed, so the e2e modules' IMAGE (DASK_KUBERNETES_TEST_IMAGE, read when
#: they are imported, before any build) can name it; the digest says which wheel it holds.
DASK_REFERENCE = "localhost/dask-kubernetes/dask:head"


def cache_root() -> Path:
    """~/.cache/dask-kubernetes/images/shipped (XDG_CACHE_HOME honoured), beside the layers."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dask-kubernetes" / "images" / "shipped"


@dataclass(frozen=True)
class Image:
    """One image archive and the reference it carries (`repository:tag`, manifest digest)."""

    archive: Path
    repository: str
    tag: str
    digest: str

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def pinned(self) -> str:
        """`repository@sha256:...`, as the chart's `image.digest` makes it."""
        return f"{self.repository}@{self.digest}"


@dataclass(frozen=True)
class ShippedImages:
    wheel: Path
    wheel_sha256: str
    images: dict[str, Image]
    #: What each step took this session (seconds; a cache hit is near 0).
    seconds: dict[str, float]

    @property
    def archives(self) -> tuple[Path, ...]:
        return tuple(image.archive for image in self.images.values())


#: Inside a test session a cold build gets this long in all (the first test's timeout must
#: still hold the cluster's start): past it the tests skip, saying how to build the images first
#: (.ci/run does, capped). Run as a program (`python tests/shipped_images.py`) it has no bound.
SESSION_BUDGET = 200.0
BUILD_HINT = "build them first: .venv/bin/python tests/shipped_images.py"
_deadline = [float("inf")]


def _run(*argv: str, timeout: float) -> subprocess.CompletedProcess[str]:
    left = _deadline[0] - time.monotonic()
    if left <= 0:
        pytest.skip(f"shipped images: not built within {SESSION_BUDGET:.0f}s; {BUILD_HINT}")
    try:
        return subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=min(timeout, left), check=False
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"shipped images: not built within {SESSION_BUDGET:.0f}s; {BUILD_HINT}")


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit {done.returncode}, no output"


def _commit() -> str:
    done = _run("git", "rev-parse", "HEAD", timeout=30)
    if done.returncode != 0:
        pytest.skip(f"shipped images: not a git clone ({_last_line(done)})")
    return done.stdout.strip()


def _dist(commit: str, cache: Path) -> Path:
    """HEAD's wheel and SHA256SUMS (release build + release manifest), cached by the commit."""
    final = cache / "dist" / commit
    if (final / "SHA256SUMS").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".build-") as work:
        clone, out = Path(work) / "clone", Path(work) / "dist"
        done = _run("git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone), timeout=120)
        if done.returncode != 0:
            pytest.skip(f"shipped images: cannot clone HEAD: {_last_line(done)}")
        _run("git", "-C", str(clone), "checkout", "--quiet", commit, timeout=60)
        build = (  # `release build`'s own function, on the clone (release.yml builds a checkout)
            "import sys; from pathlib import Path; "
            "from dask_kubernetes_release.build.command import build_distributions; "
            "build_distributions(Path(sys.argv[1]), source=Path(sys.argv[2]))"
        )
        done = _run(sys.executable, "-c", build, str(out), str(clone), timeout=900)
        if done.returncode != 0:
            pytest.skip(f"shipped images: release build failed: {_last_line(done)}")
        done = _run(sys.executable, "-m", "release", "manifest", str(out), timeout=300)
        if done.returncode != 0:
            pytest.skip(f"shipped images: release manifest failed: {_last_line(done)}")
        if final.exists():
            shutil.rmtree(final)
        out.replace(final)
    return final


def _parse_summary(line: str, archive: Path) -> Image:
    """`NAME:TAG@sha256:DIGEST -> OUT ...`, the line `release image` prints."""
    reference = line.split(" -> ", 1)[0]
    name, digest = reference.rsplit("@", 1)
    repository, tag = name.rsplit(":", 1)
    return Image(archive, repository, tag, digest)


def dask_suite() -> str:
    """The suite for the Dask image (this Python's), or a skip saying why there is none."""
    suite = DASK_SUITES.get(sys.version_info[:2])
    if suite is None:
        version = ".".join(map(str, sys.version_info[:2]))
        pytest.skip(
            f"shipped images: no Debian suite here ships Python {version}, this client's; a "
            "Dask image on another minor version cannot run the functions it pickles"
        )
    return suite


def _images(
    dist: Path, wheel_sha256: str, cache: Path, seconds: dict[str, float]
) -> dict[str, Image]:
    suite = dask_suite()
    final = cache / "by-wheel" / f"{wheel_sha256[:32]}-dask-{suite}-head"
    record = final / RECORD
    if record.is_file():
        entries = json.loads(record.read_text(encoding="utf-8"))
        images = {
            kind: Image(final / f"{kind}.oci.tar", e["repository"], e["tag"], e["digest"])
            for kind, e in entries.items()
        }
        if all(image.archive.is_file() for image in images.values()):
            return images
    final.parent.mkdir(parents=True, exist_ok=True)
    images = {}
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".build-") as work:
        for kind in KINDS:
            archive = Path(work) / f"{kind}.oci.tar"
            started = time.monotonic()
            argv = [sys.executable, "-m", "release", "image", kind, "--out", str(archive)]
            if kind != "pause":
                argv += ["--dist", str(dist)]
            if kind == "dask":
                argv += ["--suite", suite, "--name", DASK_REFERENCE]
            done = _run(*argv, timeout=1800)
            seconds[f"image {kind}"] = round(time.monotonic() - started, 1)
            if done.returncode != 0:
                pytest.skip(f"shipped images: release image {kind}: {_last_line(done)}")
            images[kind] = _parse_summary(done.stdout.strip().splitlines()[-1], archive)
        entries = {
            kind: {"repository": i.repository, "tag": i.tag, "digest": i.digest}
            for kind, i in images.items()
        }
        (Path(work) / RECORD).write_text(json.dumps(entries, indent=1) + "\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        Path(work).rename(final)
        Path(work).mkdir()  # TemporaryDirectory removes what is there on exit
    return {kind: Image(final / f"{kind}.oci.tar", *_fields(i)) for kind, i in images.items()}


def _fields(image: Image) -> tuple[str, str, str]:
    return image.repository, image.tag, image.digest


def why_not() -> str | None:
    """Why the images cannot be built here, or None."""
    if os.geteuid() != 0:
        return "building the images needs root (mmdebstrap --mode=root, overlayfs, chroot)"
    for tool in ("mmdebstrap", "unshare", "chroot", "gcc"):
        if shutil.which(tool) is None:
            return f"building the images needs {tool}"
    return None


def shipped_images(budget: float = SESSION_BUDGET) -> ShippedImages:
    """Build (or find cached) the pause, operator and Dask images of HEAD's wheel, the builds
    bounded by `budget` seconds in all (a skip past it)."""
    _deadline[0] = time.monotonic() + budget
    reason = why_not()
    if reason:
        pytest.skip(f"shipped images: {reason}")
    cache = cache_root()
    seconds: dict[str, float] = {}
    started = time.monotonic()
    dist = _dist(_commit(), cache)
    seconds["wheel"] = round(time.monotonic() - started, 1)
    (wheel,) = sorted(dist.glob("*.whl"))
    digest = sha256_file(wheel)
    started = time.monotonic()
    images = _images(dist, digest, cache, seconds)
    seconds["images"] = round(time.monotonic() - started, 1)
    return ShippedImages(wheel, digest, images, seconds)


def main() -> int:
    """.ci/run's capped step: warm the cache, print the figures; a reason to skip is exit 0."""
    try:
        built = shipped_images(budget=float("inf"))
    except pytest.skip.Exception as exc:
        print(f"shipped images not built: {exc.msg}")
        return 0
    for kind, image in built.images.items():
        print(f"{kind}: {image.reference}@{image.digest} -> {image.archive}")
    print(f"wheel sha256 {built.wheel_sha256}; seconds {built.seconds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
