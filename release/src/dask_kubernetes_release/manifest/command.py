"""Hash every distribution in DIR and write manifest.json, SHA256SUMS and requirements.txt.

The operator's chart archive in DIR (`release chart`), if any, is listed too (under "charts", in
SHA256SUMS, never in requirements.txt); its version must be the release's.

Each file is read once; its sha256, md5 and blake2b-256 (the digests PyPI shows) are computed
together. The table PyPI shows for the files is printed, so it can be compared by eye.

The project and version come from each distribution's own metadata (METADATA / PKG-INFO), never
from its file name, and a file whose normalised name disagrees is refused: so requirements.txt
holds only a validated name, a version and hashes. Attestations already beside the distributions
(`release attest` ran first) are listed too, and `check` then requires them.

`--json FILE...` prints the same records for arbitrary files to stdout and writes nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import Version

from dask_kubernetes_release.build.chart import chart_version
from dask_kubernetes_release.core.dists import (
    ATTESTATION_SUFFIXES,
    chart_version_of,
    find_charts,
    find_distributions,
)
from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.files import write_atomically
from dask_kubernetes_release.core.lockfiles import (
    LOCK_NAMES,
    REQUIREMENTS_NAME,
    has_lock,
    lock_files,
)
from dask_kubernetes_release.core.metadata import checked_metadata
from dask_kubernetes_release.manifest.outputs import (
    SUMS_NAME,
    render_requirements,
    render_sums,
)
from dask_kubernetes_release.manifest.records import (
    MANIFEST_NAME,
    SCHEMA_VERSION,
    FileRecord,
    Manifest,
    record_file,
)

if TYPE_CHECKING:
    from rich.table import Table


def build_manifest(directory: Path) -> Manifest:
    """Records for the distributions in `directory`; they must share one project and version."""
    directory = Path(directory)
    paths = find_distributions(directory)
    found = [checked_metadata(path) for path in paths]
    releases = {(meta.project, str(meta.version)) for meta in found}
    if len(releases) != 1:
        listed = ", ".join(f"{project} {version}" for project, version in sorted(releases))
        raise UsageError(f"{directory} mixes several releases: {listed}")
    ((project, version),) = releases
    charts = find_charts(directory)
    for chart in charts:
        if chart_version_of(chart.name) != chart_version(Version(version)):
            raise UsageError(f"{chart.name} is not the chart of {project} {version}")
    # What `release attest` signs: distributions, charts and the lock's files (by their names).
    attested = [*paths, *charts, *(directory / name for name in LOCK_NAMES)]
    attestations = [
        directory / f"{path.name}{suffix}" for path in attested for suffix in ATTESTATION_SUFFIXES
    ]
    return Manifest(
        project,
        version,
        tuple(record_file(path) for path in paths),
        tuple(record_file(path) for path in attestations if path.exists()),
        tuple(record_file(path) for path in charts),
        # requirements*.txt, pylock*.toml, the SBOM: `release lock`
        tuple(record_file(path) for path in lock_files(directory)),
    )


def write_manifest(directory: Path) -> Manifest:
    """Hash `directory` and (atomically) write its manifest.json, SHA256SUMS, requirements.txt."""
    directory = Path(directory)
    manifest = build_manifest(directory)
    write_atomically(directory / SUMS_NAME, render_sums(manifest.hashed))
    if not has_lock(directory):  # a locked directory keeps the requirements.txt the lock wrote
        write_atomically(directory / REQUIREMENTS_NAME, render_requirements(manifest))
    write_atomically(directory / MANIFEST_NAME, manifest.dumps())
    return manifest


def files_table(manifest: Manifest) -> Table:
    """PyPI's table of the release's files, for summaries."""
    from dask_kubernetes_release.manifest.table import render_table

    return render_table(manifest.released, title=f"{manifest.project} {manifest.version}")


def records_json(paths: list[Path]) -> str:
    """The `--json` output: the manifest's record format for any files, in the order given."""
    records: list[FileRecord] = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"no such file: {path}")
        records.append(record_file(path))
    document = {"version": SCHEMA_VERSION, "files": [record.as_json() for record in records]}
    return json.dumps(document, indent=2) + "\n"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        dest="json_files",
        action="store_true",
        help="print records for the FILE arguments to stdout instead of writing a manifest",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="DIR | FILE")


def run(args: argparse.Namespace) -> int:
    paths: list[Path] = args.paths
    if args.json_files:
        print(records_json(paths), end="")
        return 0
    if len(paths) != 1:
        raise UsageError("manifest takes one DIR (or --json FILE...)")
    manifest = write_manifest(paths[0])
    from dask_kubernetes_release.manifest.table import print_table

    print_table(manifest.files, title=f"{manifest.project} {manifest.version}")
    print(f"wrote {MANIFEST_NAME}, {SUMS_NAME}, {REQUIREMENTS_NAME} in {paths[0]}")
    return 0
