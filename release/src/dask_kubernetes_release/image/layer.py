"""One image layer: a directory tree as a reproducible tar (and its gzip), with its digests.

Why not `tar` or Python's `add()`: a layer's digest must depend on the files and nothing else.
Members are sorted, every mtime is the build's epoch, owners are numeric (names dropped), and
gzip's header carries no time or name, so the same tree gives the same bytes on any day.
Hard links stay links (the first path in sorted order holds the data). An overlayfs upper
directory is translated on the way: a whiteout (character device 0/0) becomes the OCI
`.wh.NAME` file and an opaque directory gets a `.wh..wh..opq` member, as the image spec says.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from dask_kubernetes_release.core.errors import CheckFailed, UsageError

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
# Never in a layer: the runtime mounts these; what a build left in them is noise.
MOUNT_POINTS = frozenset({"proc", "sys", "dev", "run"})
GZIP_LEVEL = 6


@dataclass(frozen=True)
class Layer:
    """A written layer blob: `digest` names the compressed bytes, `diff_id` the tar."""

    path: Path
    digest: str
    diff_id: str
    size: int
    media_type: str


class _Hashing:
    """A write-only stream that hashes and counts what passes to `sink`."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.sink.write(data)
        return len(data)

    def flush(self) -> None:
        self.sink.flush()


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: Path) -> bool:
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def _members(root: Path) -> list[tuple[str, Path]]:
    """Sorted depth-first: a directory's entries follow it, in byte order of their names."""
    found: list[tuple[str, Path]] = []

    def visit(prefix: str, directory: Path, top: bool) -> None:
        for path in sorted(directory.iterdir(), key=lambda entry: entry.name.encode()):
            name = path.name
            member = f"{prefix}{name}"
            found.append((member, path))
            st = path.lstat()
            if stat.S_ISDIR(st.st_mode) and not (top and name in MOUNT_POINTS):
                visit(f"{member}/", path, False)

    visit("", root, True)
    return found


def _tarinfo(
    member: str, path: Path, st: os.stat_result, epoch: int, owner: tuple[int, int] | None
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(member)
    info.mtime = epoch
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = owner if owner is not None else (st.st_uid, st.st_gid)
    info.uname = info.gname = ""
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = str(path.readlink())
    elif stat.S_ISREG(st.st_mode):
        info.type = tarfile.REGTYPE
        info.size = st.st_size
    elif stat.S_ISFIFO(st.st_mode):
        info.type = tarfile.FIFOTYPE
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    else:
        raise UsageError(f"cannot put {path} in a layer: not a file, directory, link or device")
    return info


def write_tar(root: Path, out: IO[bytes], epoch: int, owner: tuple[int, int] | None = None) -> None:
    """The tree under `root` as a reproducible tar stream on `out` (`owner` overrides every
    file's uid:gid, for trees assembled by whoever runs the build)."""
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory")
    seen: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for member, path in _members(root):
            st = path.lstat()
            if _is_whiteout(st):
                whiteout = tarfile.TarInfo(_whiteout_name(member))
                whiteout.mtime = epoch
                whiteout.mode = 0o644
                tar.addfile(whiteout)
                continue
            info = _tarinfo(member, path, st, epoch, owner)
            if info.type == tarfile.REGTYPE and st.st_nlink > 1:
                first = seen.setdefault((st.st_dev, st.st_ino), member)
                if first != member:
                    info.type, info.linkname, info.size = tarfile.LNKTYPE, first, 0
            if info.type == tarfile.REGTYPE:
                with path.open("rb") as data:
                    tar.addfile(info, data)
            else:
                tar.addfile(info)
            if info.type == tarfile.DIRTYPE and _is_opaque(path):
                opaque = tarfile.TarInfo(f"{member}/{OPAQUE}")
                opaque.mtime = epoch
                opaque.mode = 0o644
                tar.addfile(opaque)


def _whiteout_name(member: str) -> str:
    head, _, name = member.rpartition("/")
    return f"{head}/{WHITEOUT}{name}" if head else f"{WHITEOUT}{name}"


def write_layer(
    root: Path,
    blobs: Path,
    epoch: int,
    *,
    compress: bool = True,
    owner: tuple[int, int] | None = None,
) -> Layer:
    """Write the layer for `root` into the blob directory `blobs` (named by its digest)."""
    blobs.mkdir(parents=True, exist_ok=True)
    tmp = blobs / f".layer-{os.getpid()}.tmp"
    try:
        with tmp.open("wb") as raw:
            outer = _Hashing(raw)
            if compress:
                with gzip.GzipFile(
                    filename="",
                    mode="wb",
                    fileobj=cast(IO[bytes], outer),
                    mtime=0,
                    compresslevel=GZIP_LEVEL,
                ) as gz:
                    inner = _Hashing(cast(IO[bytes], gz))
                    write_tar(root, cast(IO[bytes], inner), epoch, owner)
            else:
                inner = outer
                write_tar(root, cast(IO[bytes], inner), epoch, owner)
            raw.flush()
            os.fsync(raw.fileno())
        digest = outer.sha.hexdigest()
        path = blobs / digest
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else "")
    return Layer(
        path=path,
        digest=f"sha256:{digest}",
        diff_id=f"sha256:{inner.sha.hexdigest()}",
        size=outer.size,
        media_type=media,
    )


def verified(layer: Layer) -> Layer:
    """`layer` after re-hashing its blob: a cached blob that no longer has its digest (changed
    on disk, truncated) is refused rather than shipped under the old name."""
    sha = hashlib.sha256()
    size = 0
    try:
        with layer.path.open("rb") as data:
            for chunk in iter(lambda: data.read(1 << 20), b""):
                sha.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise CheckFailed(f"cached layer {layer.path}: {exc.strerror}") from None
    if f"sha256:{sha.hexdigest()}" != layer.digest or size != layer.size:
        raise CheckFailed(
            f"cached layer {layer.path} does not match {layer.digest}: "
            "the cache was changed; rebuild with --refresh"
        )
    return layer
