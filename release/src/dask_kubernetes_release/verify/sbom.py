"""Verifying a signed CycloneDX SBOM statement: the SBOM must vouch for the very file.

Why its own module: `release verify` checks every statement's subject (the file and its
sha256) generically; an SBOM statement must also carry a CycloneDX document whose root
component is this release and lists this file's sha256 among its distributions. A statement
whose SBOM names other files (another build's, say) fails closed.
"""

from __future__ import annotations

from typing import Any

from dask_kubernetes_release.core.errors import CheckFailed
from dask_kubernetes_release.core.statements import CYCLONEDX_BOM, root_digests


def check_sbom_statement(doc: dict[str, Any], filename: str, sha256: str) -> None:
    """Raise CheckFailed unless `doc` (a CycloneDX statement) vouches for `filename`."""
    if doc.get("predicateType") != CYCLONEDX_BOM:
        return
    bom = doc.get("predicate")
    if not isinstance(bom, dict) or bom.get("bomFormat") != "CycloneDX":
        raise CheckFailed("the SBOM statement carries no CycloneDX document")
    if sha256 not in root_digests(bom):
        raise CheckFailed(f"the SBOM's root component does not list {filename}'s sha256")


def sbom_id(doc: dict[str, Any]) -> str | None:
    """Which SBOM a verified CycloneDX statement carries (`serialNumber` vVERSION), else None."""
    bom = doc.get("predicate") if doc.get("predicateType") == CYCLONEDX_BOM else None
    if not isinstance(bom, dict):
        return None
    return f"{bom.get('serialNumber') or 'unnumbered SBOM'} v{bom.get('version', 1)}"
