"""in-toto Statement v1 documents about one distribution file.

Why: both the PyPI publish statement and the SLSA provenance statement name the file and its
sha256 as the only subject; building them in one place keeps `attest` and `verify` agreeing on
the shape.
"""

from __future__ import annotations

import json
from typing import Any

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PYPI_PUBLISH = "https://docs.pypi.org/attestations/publish/v1"
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
CYCLONEDX_BOM = "https://cyclonedx.org/bom"  # the SBOM `release lock` writes (lock/sbom.py)
KNOWN_PREDICATE_TYPES = frozenset({PYPI_PUBLISH, SLSA_PROVENANCE, CYCLONEDX_BOM})


def statement(
    filename: str, sha256: str, predicate_type: str, predicate: dict[str, Any] | None
) -> dict[str, Any]:
    """One statement with the file as its single subject."""
    doc: dict[str, Any] = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": filename, "digest": {"sha256": sha256}}],
        "predicateType": predicate_type,
    }
    if predicate is not None:
        doc["predicate"] = predicate
    return doc


def encode(doc: dict[str, Any]) -> bytes:
    """Stable bytes to sign: sorted keys, no insignificant whitespace."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def root_digests(bom: dict[str, Any]) -> set[str]:
    """The sha256 of every distribution a CycloneDX SBOM's root component (our release) lists.

    `lock` checks the SBOM it writes with it, `verify` the SBOM a statement carries.
    """
    metadata = bom.get("metadata")
    root = metadata.get("component") if isinstance(metadata, dict) else None
    if not isinstance(root, dict):
        return set()
    return set(distribution_digests(root.get("externalReferences")))


def distribution_digests(refs: Any) -> frozenset[str]:
    """The sha256 of each `distribution` among a CycloneDX component's externalReferences."""
    found: set[str] = set()
    for ref in refs if isinstance(refs, list) else []:
        hashes = ref.get("hashes") if isinstance(ref, dict) else None
        if not isinstance(hashes, list) or ref.get("type") != "distribution":
            continue
        found |= {
            str(h.get("content", "")).lower()
            for h in hashes
            if isinstance(h, dict) and h.get("alg") == "SHA-256"
        }
    return frozenset(found)
