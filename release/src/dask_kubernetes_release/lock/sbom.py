"""A CycloneDX 1.6 SBOM of the release's locked dependency closure (`sbom.cdx.json`).

Why: a security team inventories what an install of this release brings in. The SBOM is built
from the very pylock files `release lock` writes (one component per package version, with a
purl and each locked file as a `distribution` reference carrying its sha256), its root is
dask-kubernetes with the sha256 of its wheel and sdist, and it is produced by
cyclonedx-python-lib, not by hand. Licenses are recorded where the lock knows them, which is
only for our own project (from the wheel's `License-Expression`): the lock carries no metadata
of the dependencies, and guessing would be worse than leaving the field out.

`release attest` signs it as an in-toto statement (predicate type `https://cyclonedx.org/bom`)
whose subjects are the distributions.
"""

from __future__ import annotations

import uuid
import zipfile
from collections.abc import Iterable, Mapping
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import LicenseExpression
from cyclonedx.output import make_outputter
from cyclonedx.output.json import Json as JsonOutput
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL
from packaging.pylock import PackageSdist, PackageWheel, Pylock

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.files import read_optional_json, write_atomically
from dask_kubernetes_release.core.lockfiles import SBOM_NAME
from dask_kubernetes_release.core.statements import root_digests
from dask_kubernetes_release.lock.release import Release

SCHEMA = SchemaVersion.V1_6
PREDICATE_TYPE = "https://cyclonedx.org/bom"
# The serial number is derived from the root's digests, so one release always has one serial.
_SERIAL_NAMESPACE = uuid.UUID("5f0d4e4b-6b1e-4a36-9a8e-2d1f1a0c5e77")


def _file_reference(url: str, sha256: str) -> ExternalReference:
    return ExternalReference(
        type=ExternalReferenceType.DISTRIBUTION,
        url=XsUri(url),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha256)],
    )


def _purl(name: str, version: str) -> PackageURL:
    return PackageURL(type="pypi", name=name, version=version)


def _root(release: Release) -> Component:
    license_expression = _wheel_license(release.wheel)
    return Component(
        type=ComponentType.LIBRARY,
        name=release.project,
        version=release.version,
        purl=_purl(release.project, release.version),
        bom_ref=str(_purl(release.project, release.version)),
        licenses=[LicenseExpression(license_expression)] if license_expression else None,
        external_references=[
            _file_reference(record.filename, record.sha256) for record in release.files
        ],
    )


def _wheel_license(wheel: Path) -> str | None:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = BytesParser().parsebytes(archive.read(name), headersonly=True)
    value = metadata.get("License-Expression")
    return str(value) if value else None


def _components(locks: Iterable[Pylock], own: str) -> list[Component]:
    """One component per (name, version) across every lock; its files as distribution refs."""
    files: dict[tuple[str, str], dict[str, str]] = {}
    for lock in locks:
        for package in lock.packages:
            if package.name == own or package.version is None:
                continue
            entry = files.setdefault((str(package.name), str(package.version)), {})
            files_of: list[PackageWheel | PackageSdist] = [*(package.wheels or ())]
            if package.sdist is not None:
                files_of.append(package.sdist)
            for file in files_of:
                location = file.url or file.path or file.name or ""
                entry[location] = str(file.hashes["sha256"])
    return [
        Component(
            type=ComponentType.LIBRARY,
            name=name,
            version=version,
            purl=_purl(name, version),
            bom_ref=str(_purl(name, version)),
            external_references=[_file_reference(u, h) for u, h in sorted(entry.items())],
        )
        for (name, version), entry in sorted(files.items())
    ]


def build_sbom(release: Release, locks: Iterable[Pylock]) -> str:
    """The SBOM as CycloneDX 1.6 JSON text."""
    root = _root(release)
    components = _components(locks, release.project)
    serial = uuid.uuid5(
        _SERIAL_NAMESPACE, " ".join(sorted(record.sha256 for record in release.files))
    )
    bom = Bom(
        serial_number=serial,
        metadata=BomMetaData(component=root),
        components=components,
    )
    bom.register_dependency(root, components)
    outputter = make_outputter(bom, OutputFormat.JSON, SCHEMA)
    assert isinstance(outputter, JsonOutput)
    return outputter.output_as_string(indent=2) + "\n"


def load_sbom(directory: Path, digests: Mapping[Path, str]) -> dict[str, Any] | None:
    """DIR's SBOM for `release attest`, None when there is none; it must list every file.

    A stale SBOM (written for another build) would vouch for files it never saw: refused.
    """
    path = Path(directory) / SBOM_NAME
    data = read_optional_json(path)
    if data is None:
        return None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a CycloneDX document")
    listed = root_digests(data)
    stale = sorted(dist.name for dist, sha256 in digests.items() if sha256 not in listed)
    if stale:
        raise UsageError(f"{path} does not list {', '.join(stale)} (run `release lock` again)")
    result: dict[str, Any] = data
    return result


def write_sbom(directory: Path, release: Release, locks: Iterable[Pylock]) -> str:
    write_atomically(Path(directory) / SBOM_NAME, build_sbom(release, locks))
    return SBOM_NAME
