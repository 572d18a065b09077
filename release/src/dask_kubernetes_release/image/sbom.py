"""The SBOM of one image: every Debian package, Python package and loose binary in it.

Why: the point of building images here is that every byte can be accounted for. The SBOM is
CycloneDX 1.6 (written by cyclonedx-python-lib, as `release lock`'s is), its root is the
container image named by its manifest digest, and it lists Debian packages (purl `pkg:deb`, the
.deb's sha256 from the archive's index), Python distributions (purl `pkg:pypi`, the hashes the
lock allowed, and the sha256 of the installed RECORD, which pins every installed file) and
loose files (the pause binary, busybox, CoreDNS) with their sha256. It is written beside the
image, not inside it: an image cannot name its own digest. Its timestamp is the build's epoch
and its serial number derives from the manifest digest, so it is as reproducible as the image.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from pathlib import Path

from cyclonedx.model import (
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    Property,
    XsUri,
)
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentType
from cyclonedx.output import make_outputter
from cyclonedx.output.json import Json as JsonOutput
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

from dask_kubernetes_release.core.clock import from_timestamp
from dask_kubernetes_release.core.digests import sha256_file
from dask_kubernetes_release.core.files import write_atomically

SCHEMA = SchemaVersion.V1_6
_SERIAL_NAMESPACE = uuid.UUID("0b7c2f4e-5b61-4f7e-9d43-6a2f0e8d1c35")


@dataclass(frozen=True)
class Component:
    """One thing in an image. `kind`: deb, pypi or file; `sha256`: the artefact's digest."""

    kind: str
    name: str
    version: str
    sha256: str = ""
    source: str = ""
    allowed: tuple[str, ...] = ()  # pypi: every hash the lock allowed for this version
    properties: tuple[tuple[str, str], ...] = field(default=())


def _purl(component: Component, distro: str) -> PackageURL | None:
    if component.kind == "deb":
        qualifiers = {"arch": "amd64", **({"distro": distro} if distro else {})}
        return PackageURL(
            type="deb",
            namespace="debian",
            name=component.name,
            version=component.version,
            qualifiers=qualifiers,
        )
    if component.kind == "pypi":
        return PackageURL(type="pypi", name=component.name, version=component.version)
    return None


def _cdx(component: Component, distro: str) -> CdxComponent:
    purl = _purl(component, distro)
    hashes = (
        [HashType(alg=HashAlgorithm.SHA_256, content=component.sha256)] if component.sha256 else []
    )
    references = [
        ExternalReference(
            type=ExternalReferenceType.DISTRIBUTION,
            url=XsUri(f"{component.name}=={component.version}"),
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=value)],
            comment="a file the lock allowed",
        )
        for value in component.allowed
    ]
    properties = [
        Property(name=f"dask-kubernetes:{key}", value=value) for key, value in component.properties
    ]
    if component.source:
        properties.append(Property(name="dask-kubernetes:source", value=component.source))
    return CdxComponent(
        type=ComponentType.APPLICATION if component.kind == "file" else ComponentType.LIBRARY,
        name=component.name,
        version=component.version or None,
        purl=purl,
        bom_ref=f"{component.kind}:{component.name}@{component.version}",
        hashes=hashes,
        external_references=references,
        properties=properties,
    )


def build_sbom(
    reference: str,
    manifest_digest: str,
    components: Sequence[Component],
    epoch: int,
    distro: str = "",
) -> str:
    """CycloneDX 1.6 JSON for the image `reference` whose manifest is `manifest_digest`."""
    algorithm, _, value = manifest_digest.partition(":")
    root = CdxComponent(
        type=ComponentType.CONTAINER,
        name=reference,
        version=manifest_digest,
        bom_ref=f"image:{reference}@{manifest_digest}",
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=value)]
        if algorithm == "sha256"
        else [],
    )
    members = [
        _cdx(c, distro) for c in sorted(components, key=lambda c: (c.kind, c.name, c.version))
    ]
    bom = Bom(
        serial_number=uuid.uuid5(_SERIAL_NAMESPACE, manifest_digest),
        metadata=BomMetaData(component=root, timestamp=from_timestamp(epoch)),
        components=members,
    )
    bom.register_dependency(root, members)
    outputter = make_outputter(bom, OutputFormat.JSON, SCHEMA)
    assert isinstance(outputter, JsonOutput)
    return outputter.output_as_string(indent=2) + "\n"


def write_sbom(
    path: Path,
    reference: str,
    manifest_digest: str,
    components: Sequence[Component],
    epoch: int,
    distro: str = "",
) -> None:
    write_atomically(path, build_sbom(reference, manifest_digest, components, epoch, distro))


def site_packages(tree: Path, python: str) -> Path:
    """Where pip installs on Debian's python3 (outside dpkg's /usr/lib/python3)."""
    return tree / "usr" / "local" / "lib" / f"python{python}" / "dist-packages"


def installed_distributions(
    site: Path,
    allowed: dict[tuple[str, str], tuple[str, ...]],
    source: str = "",
    wheels: dict[str, str] | None = None,
) -> list[Component]:
    """A component per *.dist-info in `site`: name and version from METADATA, the sha256 of
    RECORD (which pins every installed file), the hashes `allowed` lists for it, and the wheel
    file pip installed it from (`wheels`: normalised name -> file name, from pip's output)."""
    found = []
    for info in sorted(site.glob("*.dist-info")):
        metadata = BytesParser().parsebytes((info / "METADATA").read_bytes(), headersonly=True)
        name, version = str(metadata["Name"]), str(metadata["Version"])
        key = (name.lower().replace("_", "-").replace(".", "-"), version)
        record = info / "RECORD"
        found.append(
            Component(
                kind="pypi",
                name=name,
                version=version,
                sha256=sha256_file(record) if record.exists() else "",
                source=source or f"{info.name}/RECORD",
                allowed=allowed.get(key, ()),
                properties=(("wheel", (wheels or {})[key[0]]),) if key[0] in (wheels or {}) else (),
            )
        )
    return found
