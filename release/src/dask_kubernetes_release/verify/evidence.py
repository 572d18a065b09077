"""Find and parse the evidence that vouches for a distribution file.

Why: parsing is where hostile or broken input arrives. Everything here either returns
well-typed evidence or raises UsageError with one line naming the file, before any
verification starts; evidence files above a sane size are refused unread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pypi_attestations import Attestation, AttestationError, Provenance
from pypi_attestations import Publisher as PypiPublisher
from securesystemslib.dsse import Envelope as DsseEnvelope
from securesystemslib.exceptions import Error as SslibError
from sigstore.errors import Error as SigstoreError
from sigstore.models import Bundle

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.files import read_limited

BESIDE_SUFFIXES = (".provenance", ".publish.attestation", ".slsa.attestation", ".intoto.jsonl")


@dataclass(frozen=True)
class SignedBundle:
    """A Sigstore-signed DSSE envelope (a PEP 740 attestation is converted to one)."""

    bundle: Bundle
    source: Path
    publisher: PypiPublisher | None = None


@dataclass(frozen=True)
class KeyEnvelope:
    """A DSSE envelope signed with a local key (`release attest --key`)."""

    envelope: DsseEnvelope
    source: Path


Evidence = SignedBundle | KeyEnvelope


def validation_reason(exc: ValidationError) -> str:
    """The first error of a pydantic validation as one line: `where: what`."""
    first = exc.errors()[0]
    loc = first.get("loc", ())
    where = ".".join(p if isinstance(p, str) and p.isprintable() else repr(p) for p in loc)
    where = where or "document"
    return f"{where}: {first.get('msg', 'invalid')}"


def _refuse_boolean_versions(raw: bytes, path: Path) -> None:
    """pydantic accepts `true` for `Literal[1]` (True == 1); PEP 740 says the integer 1."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return  # the model's own parse reports it
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("version"), bool):
                raise UsageError(f"{path}: 'version' must be the integer 1, not a boolean")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _attestation_bundle(
    attestation: Attestation, source: Path, publisher: PypiPublisher | None
) -> SignedBundle:
    try:
        return SignedBundle(attestation.to_bundle(), source, publisher)
    except (AttestationError, SigstoreError, ValueError) as exc:
        raise UsageError(f"{source}: unusable attestation ({exc})") from None


def load_attestation(path: Path) -> list[Evidence]:
    """One PEP 740 attestation object."""
    raw = read_limited(path)
    _refuse_boolean_versions(raw, path)
    try:
        attestation = Attestation.model_validate_json(raw)
    except ValidationError as exc:
        raise UsageError(f"{path}: not a PEP 740 attestation ({validation_reason(exc)})") from None
    return [_attestation_bundle(attestation, path, None)]


def load_provenance(path: Path) -> list[Evidence]:
    """A PEP 740 provenance object as PyPI's integrity API serves it."""
    raw = read_limited(path)
    _refuse_boolean_versions(raw, path)
    try:
        provenance = Provenance.model_validate_json(raw)
    except ValidationError as exc:
        raise UsageError(
            f"{path}: not a PEP 740 provenance object ({validation_reason(exc)})"
        ) from None
    found: list[Evidence] = [
        _attestation_bundle(attestation, path, group.publisher)
        for group in provenance.attestation_bundles
        for attestation in group.attestations
    ]
    if not found:
        raise UsageError(f"{path}: the provenance object holds no attestations")
    return found


def _jsonl_entry(line: Any, path: Path, number: int) -> Evidence:
    where = f"{path}:{number}"
    if not isinstance(line, dict):
        raise UsageError(f"{where}: expected a JSON object")
    try:
        if "mediaType" in line:
            return SignedBundle(Bundle.from_json(json.dumps(line)), path)
        return KeyEnvelope(DsseEnvelope.from_dict(line), path)
    except (SigstoreError, SslibError, KeyError, TypeError, ValueError) as exc:
        reason = f"missing {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        raise UsageError(f"{where}: not a DSSE envelope or Sigstore bundle ({reason})") from None


def load_jsonl(path: Path) -> list[Evidence]:
    """`<file>.intoto.jsonl`: one DSSE envelope or Sigstore bundle per line."""
    try:
        text = read_limited(path).decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    found: list[Evidence] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except (ValueError, RecursionError):
            raise UsageError(f"{path}:{number}: not valid JSON") from None
        found.append(_jsonl_entry(line, path, number))
    if not found:
        raise UsageError(f"{path}: holds no envelopes")
    return found


def load_any(path: Path) -> list[Evidence]:
    """Dispatch on the evidence file's name."""
    if path.name.endswith(".provenance"):
        return load_provenance(path)
    if path.name.endswith(".jsonl"):
        return load_jsonl(path)
    return load_attestation(path)


def beside(dist: Path, *, key_signed: bool) -> list[Evidence]:
    """Evidence files named after `dist` in its directory.

    With a key, only our DSSE `.intoto.jsonl` counts; without one, key-signed envelopes
    cannot be checked and are left out, so Sigstore evidence alone decides.
    """
    if key_signed:
        jsonl = Path(f"{dist}.intoto.jsonl")
        return load_jsonl(jsonl) if jsonl.exists() else []
    found: list[Evidence] = []
    for suffix in BESIDE_SUFFIXES:
        candidate = Path(f"{dist}{suffix}")
        if candidate.exists():
            found += [e for e in load_any(candidate) if isinstance(e, SignedBundle)]
    return found
