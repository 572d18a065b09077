"""Checks on a signed statement's content: right file, right digest, known predicate.

Why: a valid signature only proves who signed *some* statement; these checks tie it to the
exact file on disk, so evidence for one file never vouches for another (not even for the same
wheel renamed with a build tag: pypi-attestations refuses that too). A lock file's statement
must name it exactly (`requirements.txt`, `pylock.toml`...).
"""

from __future__ import annotations

import json
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from dask_kubernetes_release.core.dists import same_distribution
from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.lockfiles import lock_kind
from dask_kubernetes_release.core.statements import (
    KNOWN_PREDICATE_TYPES,
    PAYLOAD_TYPE,
    STATEMENT_TYPE,
)
from dask_kubernetes_release.verify.sbom import check_sbom_statement


def _parse(payload_type: str, payload: bytes) -> dict[str, Any]:
    if payload_type != PAYLOAD_TYPE:
        raise CheckFailed(f"envelope holds {payload_type!r}, not an in-toto statement")
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        raise CheckFailed("signed statement is not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("_type") != STATEMENT_TYPE:
        raise CheckFailed("signed payload is not an in-toto Statement v1")
    return doc


def _subject(doc: dict[str, Any]) -> tuple[str, str]:
    subjects = doc.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise CheckFailed("statement must name exactly one subject")
    name = subjects[0].get("name")
    digest = subjects[0].get("digest")
    sha256 = digest.get("sha256") if isinstance(digest, dict) else None
    if not isinstance(name, str) or not isinstance(sha256, str):
        raise CheckFailed("statement subject lacks a name or a sha256 digest")
    return name, sha256


def _build_tag(filename: str) -> str:
    """A wheel's optional build tag (`1` in `x-1.0-1-py3-none-any.whl`): part of its identity,
    as for pypi-attestations, so a wheel renamed with one is not the attested wheel."""
    if not filename.endswith(".whl"):
        return ""
    try:
        build = parse_wheel_filename(filename)[2]
    except InvalidWheelFilename:
        return ""  # same_distribution has refused such a name already
    return "".join(str(part) for part in build)


def check_statement(
    payload_type: str, payload: bytes, filename: str, sha256: str
) -> dict[str, Any]:
    """Return the statement if it vouches for exactly this file; raise CheckFailed otherwise."""
    doc = _parse(payload_type, payload)
    name, subject_sha256 = _subject(doc)
    lock = lock_kind(filename) is not None
    try:
        # A lock file has no other spelling: its statement names it exactly.
        same = name == filename if lock else same_distribution(name, filename)
    except UsageError:
        same = False
    if not same:
        raise CheckFailed(f"the attestation is for {name!r}, not for this file")
    if _build_tag(name) != _build_tag(filename):
        raise CheckFailed(
            f"the attestation is for {name!r}, not for this file (the wheel's build tag "
            f"differs: {_build_tag(filename) or 'none'} instead of {_build_tag(name) or 'none'})"
        )
    if subject_sha256.lower() != sha256:
        raise CheckFailed(
            "the file's sha256 differs from the attested one (the file was changed "
            "or the evidence belongs to another build)"
        )
    predicate_type = doc.get("predicateType")
    if predicate_type not in KNOWN_PREDICATE_TYPES:
        raise CheckFailed(f"unknown predicate type {predicate_type!r}")
    if not lock:  # a lock's pins are held to its SBOM by verify/locks.py, with its text
        check_sbom_statement(doc, filename, sha256)
    return doc
