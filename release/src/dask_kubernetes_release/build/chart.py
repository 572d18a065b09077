"""Package the operator's Helm chart reproducibly, for the release in DIR.

Why not `helm package`: it stamps the clock into every tar header and the gzip header, so two
packagings of one commit differ and nobody can rebuild the attested bytes. Here the members are
sorted, owned by 0:0 with fixed modes, dated SOURCE_DATE_EPOCH (else HEAD's commit time), and
the gzip header carries no time or name: the same commit gives the same archive.

One place for versions: the committed Chart.yaml holds the placeholder 0.0.0 for `version` and
`appVersion` (`release tag` refuses anything else) and this command writes the release's own
version there, read from the wheel's metadata in DIR, so the chart, the image tag (the chart's
appVersion) and the Python package cannot drift apart.

The image: with `--image-digest sha256:...` (release.yml passes the digest it pushed) the
packaged values.yaml pins `image.digest`, so the Deployment pulls `repository:tag@digest` and a
re-pushed tag changes nothing. Without it the chart is tag-pinned only, and the command says so:
the local pipeline builds no image.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from dask_kubernetes_release.core.dists import (
    CHART_NAME,
    WHEEL_SUFFIX,
    chart_filename,
    find_distributions,
)
from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.files import write_atomically
from dask_kubernetes_release.core.git import Git
from dask_kubernetes_release.core.metadata import checked_metadata
from dask_kubernetes_release.core.paths import repository_root

CHART_DIR = Path("charts") / CHART_NAME
PLACEHOLDER = "0.0.0"
IMAGE_REPOSITORY = "ghcr.io/dask/dask-kubernetes-operator"
# Where release.yml pushes the chart (`helm push ... oci://ghcr.io/dask/charts`).
OCI_REPOSITORY = "oci://ghcr.io/dask/charts"
# The lines the packager rewrites; each must appear exactly once in the committed file.
VERSION_LINES = {"version": f"version: {PLACEHOLDER}", "appVersion": f'appVersion: "{PLACEHOLDER}"'}
DIGEST_LINE = '  digest: ""'
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class PackagedChart:
    path: Path
    version: str
    image: str  # the reference the Deployment uses, as far as the chart decides it


def chart_version(version: Version) -> str:
    """SemVer 2 (what Helm requires) for a PEP 440 version: 2026.3.0 stays 2026.3.0."""
    release = [*version.release, 0, 0][:3]
    text = ".".join(str(part) for part in release)
    if version.pre is not None:
        text += f"-{version.pre[0]}.{version.pre[1]}"
    if version.dev is not None:
        text += f"{'.' if version.pre else '-'}dev.{version.dev}"
    if version.local:
        text += f"+{version.local}"
    return text


def _replace_once(text: str, line: str, new: str, where: str) -> str:
    lines = text.split("\n")
    hits = [index for index, found in enumerate(lines) if found.rstrip() == line]
    if len(hits) != 1:
        raise UsageError(
            f"{where} must hold the line {line.strip()!r} exactly once, not {len(hits)}"
        )
    lines[hits[0]] = new
    return "\n".join(lines)


def stamped_chart_yaml(text: str, version: str) -> str:
    """Chart.yaml with the placeholder version and appVersion replaced by `version`."""
    text = _replace_once(text, VERSION_LINES["version"], f"version: {version}", "Chart.yaml")
    return _replace_once(
        text, VERSION_LINES["appVersion"], f'appVersion: "{version}"', "Chart.yaml"
    )


def stamped_values(text: str, digest: str | None) -> str:
    """values.yaml with `image.digest` set when a digest is given (checked, never guessed)."""
    if digest is None:
        _replace_once(text, DIGEST_LINE, DIGEST_LINE, "values.yaml")
        return text
    if not _DIGEST.fullmatch(digest):
        raise UsageError(f"--image-digest must be sha256: and 64 lowercase hex digits: {digest!r}")
    return _replace_once(text, DIGEST_LINE, f'  digest: "{digest}"', "values.yaml")


def _source_files(source: Path) -> list[Path]:
    if not (source / "Chart.yaml").is_file():
        raise UsageError(f"no Chart.yaml in {source}")
    files: list[Path] = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if any(part.startswith(".") for part in relative.parts):
            continue  # editor and VCS droppings are never part of the chart
        if path.is_symlink():
            raise UsageError(f"the chart holds a symlink: {relative}")
        if path.is_file():
            files.append(path)
    return files


def source_date_epoch(environ: dict[str, str] | None = None) -> int:
    value = (os.environ if environ is None else environ).get("SOURCE_DATE_EPOCH")
    if value is None:
        return Git(repository_root(), failure=UsageError).commit_timestamp()
    if not value.isdigit():
        raise UsageError(f"SOURCE_DATE_EPOCH is not a number of seconds: {value!r}")
    return int(value)


def archive_bytes(source: Path, version: str, digest: str | None, mtime: int) -> bytes:
    """The .tgz: sorted members `CHART_NAME/...`, 0:0, 0644, dated `mtime`, gzip without time."""
    members: list[tuple[str, bytes]] = []
    for path in _source_files(source):
        relative = path.relative_to(source).as_posix()
        data = path.read_bytes()
        if relative == "Chart.yaml":
            data = stamped_chart_yaml(data.decode("utf-8"), version).encode("utf-8")
        elif relative == "values.yaml":
            data = stamped_values(data.decode("utf-8"), digest).encode("utf-8")
        members.append((f"{CHART_NAME}/{relative}", data))
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    gz_buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz_buffer, mtime=0, compresslevel=9) as gz:
        gz.write(tar_buffer.getvalue())
    return gz_buffer.getvalue()


def release_version(directory: Path) -> Version:
    """The version of the one wheel in `directory`, from its own METADATA."""
    wheels = [p for p in find_distributions(directory) if p.name.endswith(WHEEL_SUFFIX)]
    if len(wheels) != 1:
        raise UsageError(f"{directory} must hold exactly one wheel, not {len(wheels)}")
    return checked_metadata(wheels[0]).version


def package(
    directory: Path, out: Path, digest: str | None, source: Path | None = None
) -> PackagedChart:
    source = repository_root() / CHART_DIR if source is None else source
    version = chart_version(release_version(directory))
    data = archive_bytes(source, version, digest, source_date_epoch())
    out.mkdir(parents=True, exist_ok=True)
    path = out / chart_filename(version)
    write_atomically(path, data)
    image = f"{IMAGE_REPOSITORY}:{version}" + (f"@{digest}" if digest else "")
    return PackagedChart(path, version, image)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, metavar="DIR", help="directory with the built wheel")
    parser.add_argument("--out", type=Path, metavar="DIR", help="where the .tgz goes (default DIR)")
    parser.add_argument(
        "--image-digest",
        metavar="sha256:HEX",
        help="the pushed operator image's digest; the chart then pulls it by digest",
    )
    parser.add_argument(
        "--print-version",
        action="store_true",
        help="only print the version the chart and image tag get (release.yml tags the image)",
    )


def run(args: argparse.Namespace) -> int:
    if args.print_version:
        print(chart_version(release_version(args.dir)))
        return 0
    chart = package(args.dir, args.out or args.dir, args.image_digest)
    print(f"packaged {chart.path.name} (chart and appVersion {chart.version})")
    if args.image_digest:
        print(f"image pinned by digest: {chart.image}")
    else:
        print(
            f"image pinned by tag only: {chart.image} (no --image-digest; release.yml passes "
            "the digest of the image it pushed)"
        )
    return 0
