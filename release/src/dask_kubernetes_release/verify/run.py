"""The verification behind `verify`: it takes the command's typed `VerifyRequest` (its options,
how-to and request are in verify/command.py).

Why a module of its own: everything here needs sigstore, pydantic and pypi-attestations, which
take most of a second to import; keeping it out of the command module lets `verify --help`
answer at once. It plans every input before verifying anything (bad input: exit 2), verifies
each file against its evidence and policy, and, for NAME==VERSION targets, fetches from the
index first and keeps only what passed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]  # not in __all__
from sigstore.errors import Error as SigstoreError
from sigstore.verify import Verifier

from dask_kubernetes_release.core.digests import sha256_file
from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.lockfiles import lock_kind
from dask_kubernetes_release.verify import evidence as evidence_files
from dask_kubernetes_release.verify import index
from dask_kubernetes_release.verify.evidence import (
    Evidence,
    KeyEnvelope,
    SignedBundle,
    validation_reason,
)
from dask_kubernetes_release.verify.key import load_public_key, verify_key_envelopes
from dask_kubernetes_release.verify.locks import (
    check_lock,
    project_of,
    release_files,
    signed_name,
)
from dask_kubernetes_release.verify.policy import (
    PROJECT_POLICY,
    IdentityPolicy,
    Pins,
    Policy,
    Verified,
    load_policy_document,
    pins_from_options,
    policy_from_options,
)
from dask_kubernetes_release.verify.record import evidence_record
from dask_kubernetes_release.verify.report import Verdict, render
from dask_kubernetes_release.verify.sbom import sbom_id
from dask_kubernetes_release.verify.sigstore import verify_signed_bundle
from dask_kubernetes_release.verify.trust import bundled_verifier, verifier_from_file

if TYPE_CHECKING:  # verify/command.py imports this module, when it runs
    from dask_kubernetes_release.verify.command import VerifyRequest

STAGING_HINT = "signed on Sigstore's staging instance; use --staging"
PRODUCTION_HINT = "signed on Sigstore's production instance, not staging; drop --staging"


def _explicit_policy(request: VerifyRequest) -> tuple[Policy | None, Pins]:
    """The policy the options or `--policy` give (None: none given), and the policy file's
    `[require]` pins."""
    publisher_options = request.publisher.given()
    if request.identity and request.identity_regexp:
        raise UsageError("give --identity or --identity-regexp, not both")
    if request.identity or request.identity_regexp:
        if publisher_options:
            raise UsageError("--identity cannot be combined with --repository/--workflow/--ref")
        try:
            return IdentityPolicy(
                identity=request.identity,
                identity_regexp=request.identity_regexp,
                issuer=request.issuer,
            ), Pins()
        except ValidationError as exc:
            raise UsageError(f"--identity-regexp: {validation_reason(exc)}") from None
    if request.issuer:
        raise UsageError("--issuer needs --identity or --identity-regexp")
    if publisher_options:
        if not request.publisher.repository:
            raise UsageError("a publisher policy needs --repository (and, to pin it, --workflow)")
        return policy_from_options(publisher_options), Pins()
    if request.policy:
        document = load_policy_document(request.policy)
        return document.publisher, document.require
    return None, Pins()


@dataclass(frozen=True)
class _Job:
    dist: Path
    sha256: str
    evidence: list[Evidence]
    policy: Policy | None  # for Sigstore evidence: explicit, else the project's own
    key_policy: Policy | None  # for key-signed evidence: only what was asked for
    pins: Pins = field(default_factory=Pins)


def _paired(dists: list[Path], files: list[Path], option: str) -> list[list[Path]]:
    if not files:
        return [[] for _ in dists]
    if len(dists) == 1:
        return [files]
    if len(files) != len(dists):
        raise UsageError(f"{option}: give it once per DIST ({len(dists)}), or use one DIST")
    return [[f] for f in files]


def _policy_for(dist: Path, explicit: Policy | None) -> tuple[Policy | None, Pins]:
    if explicit is not None:
        return explicit, Pins()
    document = load_policy_document(PROJECT_POLICY)
    if project_of(dist) in document.projects:
        return document.publisher, document.require
    return None, Pins()


def _plan(request: VerifyRequest) -> list[_Job]:
    """Parse every input before verifying anything, so bad input fails fast with exit 2."""
    explicit, file_pins = _explicit_policy(request)
    values = {given.pin: given.value for given in request.pins}
    options = {given.pin: given.option for given in request.pins}
    option_pins = pins_from_options(values, options).merged(file_pins)
    given = [Path(d) for d in request.targets]
    if any(d.is_dir() for d in given) and (request.provenance or request.attestation):
        raise UsageError("--provenance/--attestation name one file's evidence, not a directory's")
    # A release directory stands for its distributions, chart and lock files (verify/locks.py).
    dists = [f for d in given for f in (release_files(d) if d.is_dir() else [d])]
    provenances = _paired(dists, list(request.provenance), "--provenance")
    attestations = _paired(dists, list(request.attestation), "--attestation")
    jobs: list[_Job] = []
    for dist, provs, atts in zip(dists, provenances, attestations, strict=True):
        if not dist.is_file():
            raise UsageError(f"{dist}: no such file")
        project_of(dist)
        found: list[Evidence] = []
        for path in provs:
            found += evidence_files.load_provenance(path)
        for path in atts:
            found += evidence_files.load_attestation(path)
        if not (provs or atts):
            found = evidence_files.beside(dist, key_signed=request.key is not None)
        policy, own_pins = _policy_for(dist, explicit)
        if policy is None and any(isinstance(e, SignedBundle) for e in found):
            raise UsageError(
                f"{dist.name}: no policy; give --repository (and --workflow), or --identity"
            )
        pins = option_pins.merged(own_pins)
        jobs.append(_Job(dist, sha256_file(dist), found, policy, explicit, pins))
    return jobs


def _verifiers(
    trusted_root: Path | None, staging: bool
) -> tuple[Verifier, tuple[Verifier, str] | None]:
    """The verifier to use, and the other Sigstore instance's (with the hint to give when it
    accepts a bundle ours refuses). A custom trusted root gets no hint."""
    if trusted_root is not None:
        return verifier_from_file(trusted_root), None
    other = bundled_verifier(staging=not staging)
    hint = PRODUCTION_HINT if staging else STAGING_HINT
    return bundled_verifier(staging=staging), (other, hint)


def _no_evidence_reason(dist: Path, key: SSlibKey | None) -> str:
    jsonl = Path(f"{dist}.intoto.jsonl")
    if key is None and jsonl.is_file():
        return (
            f"{jsonl.name} beside it holds key-signed statements: pass --key PUB (the public key "
            "that `release keygen` wrote, e.g. release.key.pub) to verify them"
        )
    return "no attestation or provenance found for this file"


def _verify_one(job: _Job, request: VerifyRequest, key: SSlibKey | None) -> Verdict:
    shown = job.dist.name
    name = signed_name(job.dist)  # the name the statements give (a lock may be published apart)
    if not job.evidence:
        return Verdict(shown, reason=_no_evidence_reason(job.dist, key))
    keyed = [e for e in job.evidence if isinstance(e, KeyEnvelope)]
    signed = [e for e in job.evidence if isinstance(e, SignedBundle)]
    facts = None
    statements: list[dict[str, Any]] = []
    try:
        if keyed:
            assert key is not None  # key-signed evidence is only loaded with --key
            facts, key_statements = verify_key_envelopes(
                key, keyed, job.key_policy, name, job.sha256
            )
            statements += key_statements
        verifier, other = (
            _verifiers(request.trusted_root, request.staging) if signed else (None, None)
        )
        certified: list[str | None] = []  # each certificate's deployment environment
        for item in signed:
            assert job.policy is not None and verifier is not None  # see _plan
            facts, statement = verify_signed_bundle(
                verifier, item, job.policy, name, job.sha256, other=other
            )
            statements.append(statement)
            certified.append(facts.environment if facts.environment_signed else None)
        if signed and facts is not None:
            assert job.policy is not None
            trusted = request.trust_index_publisher
            environment = _environment(job.policy, signed, trusted, certified)
            facts = replace(
                facts,
                environment=environment,
                environment_signed=None not in certified,  # else the records named it
            )
        if lock_kind(shown):
            check_lock(job.dist, statements)
        predicate_types = tuple(sorted({str(doc["predicateType"]) for doc in statements}))
        _check_pins(job.pins, Verified(facts, predicate_types))
    except CheckFailed as exc:
        return Verdict(shown, reason=str(exc))
    return Verdict(
        shown,
        facts=facts,
        not_pinned=_not_pinned(job, signed=bool(signed), keyed=bool(keyed)),
        predicate_types=predicate_types,
        sboms=tuple(sorted({sbom for doc in statements if (sbom := sbom_id(doc))})),
        evidence=tuple(evidence_record(item) for item in job.evidence),
    )


def _not_pinned(job: _Job, *, signed: bool, keyed: bool) -> tuple[tuple[str, str], ...]:
    """What the policies that judged this file left open (e.g. no --workflow), to state it."""
    used = [job.policy if signed else None, job.key_policy if keyed else None]
    return tuple(sorted({kv for p in used if p is not None for kv in p.not_pinned().items()}))


def _check_pins(pins: Pins, verified: Verified) -> None:
    try:
        pins.check(verified)
    except SigstoreError as exc:
        raise CheckFailed(str(exc)) from None


def _environment(
    policy: Policy, signed: list[SignedBundle], trusted: bool, certified: list[str | None]
) -> str | None:
    """The environment, once per file: from the certificates when they all carry it, else
    only from PyPI's unsigned publisher records."""
    records = [item.publisher for item in signed if item.publisher is not None]
    try:
        return policy.check_environment(records, trust_records=trusted, certified=certified)
    except SigstoreError as exc:
        raise CheckFailed(str(exc)) from None


def _verify_all(request: VerifyRequest, key: SSlibKey | None) -> list[Verdict]:
    jobs = _plan(request)
    return [_verify_one(job, request, key) for job in jobs]


def _verify_from_index(request: VerifyRequest, key: SSlibKey | None) -> list[Verdict]:
    """Download, verify, and keep (in --download-dir) only the files that pass."""
    if not all(index.is_remote(target) for target in request.targets):
        raise UsageError("give either local files or NAME==VERSION / file URLs, not both")
    if request.provenance or request.attestation:
        raise UsageError("--provenance/--attestation apply to local files, not to an index")
    index_url = request.index_url or index.DEFAULT_INDEX_URL
    with index.fetched(list(request.targets), index_url, request.download_dir) as files:
        early = {f.filename: Verdict(f.filename, reason=f.problem) for f in files if f.problem}
        ready = tuple(str(f.path) for f in files if not f.problem)
        judged = _verify_all(replace(request, targets=ready), key)
        verdicts = {v.filename: v for v in judged} | early
        ordered = [verdicts[f.filename] for f in files]
        if request.download_dir is not None:
            index.keep([f.path for f in files if verdicts[f.filename].ok], request.download_dir)
    return ordered


def verify(request: VerifyRequest) -> list[Verdict]:
    """One verdict per file asked for; bad input: UsageError."""
    key = load_public_key(request.key) if request.key is not None else None
    if any(index.is_remote(target) for target in request.targets):
        return _verify_from_index(request, key)
    if request.index_url or request.download_dir:
        raise UsageError("--index-url/--download-dir need NAME==VERSION or a file URL")
    return _verify_all(request, key)


def run(request: VerifyRequest) -> int:
    verdicts = verify(request)
    print(render(verdicts, as_json=request.json))
    sys.stdout.flush()
    return 0 if all(v.ok for v in verdicts) else 1
