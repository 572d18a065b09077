"""Check, offline, that each file was built and published by the expected CI workflow.

What it answers: was this exact file signed by the named repository's release workflow,
recorded in Sigstore's transparency log, and does the signed statement name this file
with this sha256? No network is used: Sigstore's trust root bundled with sigstore-python
is the anchor.

The operator's Helm chart archive (dask-kubernetes-operator-VERSION.tgz, from the GitHub
release or `helm pull`) is a file like the others: same evidence, same policy, same output.

Quick start (a file downloaded from PyPI, with the provenance PyPI serves for it):

  curl -sL https://pypi.org/integrity/<project>/<version>/<file>/provenance \\
      -o <file>.provenance
  python -m release verify <file> --repository OWNER/NAME --workflow release.yml

  Evidence beside each file (<file>.provenance, <file>.publish.attestation,
  <file>.slsa.attestation, <file>.intoto.jsonl) is found automatically. Or name it:
    --provenance FILE     a PEP 740 provenance object (PyPI integrity API)
    --attestation FILE    one PEP 740 attestation (repeat for several)
    --key PUB             our key-signed DSSE statements (<file>.intoto.jsonl), from
                          `release attest --key`; checks the key instead of Sigstore
  With several files, repeated --provenance/--attestation pair with files in order.

Who must have signed (the policy). Every field is proven from a signature (the Fulcio
certificate; with --key, the signed in-toto statement) or the file FAILs with the reason:
  --repository OWNER/NAME --workflow FILE.yml   a GitHub Actions publisher (a GitLab
        project is given as https://gitlab.com/GROUP/NAME with --workflow .gitlab-ci.yml)
    [--ref 'refs/tags/*']   the git ref, exact or a glob (quote it)
    [--trigger EVENT]       the workflow trigger, e.g. push or release
    [--repository-id ID] [--owner-id ID]   the numeric GitHub/GitLab IDs, as PyPI's Trusted
                            Publishing pins them (they survive renames; names do not)
    [--environment NAME]    the deployment environment: no signature shows it, so it FAILs
                            unless you also pass --trust-index-publisher
  --identity SAN [--issuer URL]   an exact certificate identity (e-mail or URI)
  --policy FILE                    read the publisher from a TOML file (attestations/policy.toml
                                   shows the keys; unknown keys and wrong types: exit 2)
  --trust-index-publisher          take the environment from PyPI's publisher record in a
                                   provenance file: it is not signed, you trust the index
                                   that served it (over TLS); the report labels it unsigned
  --staging                        the file was signed on Sigstore's staging instance
  Files of dask-kubernetes default to attestations/policy.toml (this repository,
  release.yml, tags only, pushed, GitHub-hosted runner). Other projects need a policy.

Output: one line per file, then the exit code says it all.
  OK <file>  <owner/repo> <workflow>@<commit> <ref> (log index N)
      <fact>: <value>  (signed: Fulcio certificate | signed: in-toto statement |
                        signed: Rekor transparency log | unsigned: provenance publisher record)
  FAIL <file>: <why, in plain words>
  exit 0: every file passed; 1: at least one failed; 2: unusable input (missing file,
  garbled or oversized evidence, unknown version, bad options or policy file).
  --json prints per file the verdict, the facts PyPI shows on the file page
  (owner, repository, repository_id, owner_id, repository_access, token_issuer,
  runner_environment, publication_workflow, trigger_event, ref, log_index,
  integrated_time) and `facts`: each fact with its source.

See docs/VERIFYING.md for a step-by-step walk-through.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]  # not in __all__
from sigstore.errors import Error as SigstoreError

from dask_kubernetes_release.core.digests import sha256_file
from dask_kubernetes_release.core.dists import release_project
from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.verify import evidence as evidence_files
from dask_kubernetes_release.verify.evidence import Evidence, KeyEnvelope, SignedBundle
from dask_kubernetes_release.verify.key import load_public_key, verify_key_envelopes
from dask_kubernetes_release.verify.policy import (
    PROJECT_POLICY,
    TRUST_RECORD_OPTION,
    IdentityPolicy,
    Policy,
    load_policy_file,
    policy_from_options,
)
from dask_kubernetes_release.verify.report import Verdict, render
from dask_kubernetes_release.verify.sbom import sbom_id
from dask_kubernetes_release.verify.sigstore import verify_signed_bundle
from dask_kubernetes_release.verify.trust import bundled_verifier


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dists", nargs="+", metavar="DIST", type=Path, help="files to verify")
    evidence = parser.add_argument_group("evidence (default: files beside each DIST)")
    evidence.add_argument("--provenance", action="append", type=Path, default=[], metavar="FILE")
    evidence.add_argument("--attestation", action="append", type=Path, default=[], metavar="FILE")
    evidence.add_argument("--key", type=Path, metavar="PUB", help="public key for .intoto.jsonl")
    policy = parser.add_argument_group("policy: who must have signed")
    policy.add_argument("--repository", metavar="OWNER/NAME")
    policy.add_argument("--workflow", metavar="FILE.yml")
    policy.add_argument("--ref", metavar="REF-or-glob")
    policy.add_argument("--environment", metavar="NAME")
    policy.add_argument("--trigger", metavar="EVENT")
    policy.add_argument("--repository-id", metavar="ID", help="numeric (certificate ext. .15)")
    policy.add_argument("--owner-id", metavar="ID", help="numeric (certificate ext. .17)")
    policy.add_argument("--identity", metavar="SAN")
    policy.add_argument("--issuer", metavar="URL")
    policy.add_argument("--policy", type=Path, metavar="TOML", help="a policy file")
    policy.add_argument(
        TRUST_RECORD_OPTION,
        action="store_true",
        help="take the environment from PyPI's publisher record in a provenance file, which is "
        "not signed (trust the index that served it over TLS)",
    )
    parser.add_argument("--staging", action="store_true", help="Sigstore's staging instance")
    parser.add_argument("--json", action="store_true", help="machine-readable report")


_PUBLISHER_OPTIONS = (
    "repository", "workflow", "ref", "environment", "trigger", "repository_id", "owner_id",
)  # fmt: skip


def _explicit_policy(args: argparse.Namespace) -> Policy | None:
    publisher_options = {name: getattr(args, name) for name in _PUBLISHER_OPTIONS}
    given = any(value is not None for value in publisher_options.values())
    if args.identity:
        if given:
            raise UsageError("--identity cannot be combined with --repository/--workflow/--ref")
        return IdentityPolicy(identity=args.identity, issuer=args.issuer)
    if args.issuer:
        raise UsageError("--issuer needs --identity")
    if given:
        if not (args.repository and args.workflow):
            raise UsageError("a publisher policy needs both --repository and --workflow")
        return policy_from_options(publisher_options)
    if args.policy:
        return load_policy_file(args.policy)[1]
    return None


@dataclass(frozen=True)
class _Job:
    dist: Path
    sha256: str
    evidence: list[Evidence]
    policy: Policy | None  # for Sigstore evidence: explicit, else the project's own
    key_policy: Policy | None  # for key-signed evidence: only what was asked for


def _paired(dists: list[Path], files: list[Path], option: str) -> list[list[Path]]:
    if not files:
        return [[] for _ in dists]
    if len(dists) == 1:
        return [files]
    if len(files) != len(dists):
        raise UsageError(f"{option}: give it once per DIST ({len(dists)}), or use one DIST")
    return [[f] for f in files]


def _policy_for(dist: Path, explicit: Policy | None) -> Policy | None:
    if explicit is not None:
        return explicit
    project, own = load_policy_file(PROJECT_POLICY)
    return own if release_project(dist.name) == project else None


def _plan(args: argparse.Namespace) -> list[_Job]:
    """Parse every input before verifying anything, so bad input fails fast with exit 2."""
    explicit = _explicit_policy(args)
    dists: list[Path] = args.dists
    provenances = _paired(dists, args.provenance, "--provenance")
    attestations = _paired(dists, args.attestation, "--attestation")
    jobs: list[_Job] = []
    for dist, provs, atts in zip(dists, provenances, attestations, strict=True):
        if not dist.is_file():
            raise UsageError(f"{dist}: no such file")
        release_project(dist.name)
        found: list[Evidence] = []
        for path in provs:
            found += evidence_files.load_provenance(path)
        for path in atts:
            found += evidence_files.load_attestation(path)
        if not (provs or atts):
            found = evidence_files.beside(dist, key_signed=args.key is not None)
        policy = _policy_for(dist, explicit)
        if policy is None and any(isinstance(e, SignedBundle) for e in found):
            raise UsageError(
                f"{dist.name}: no policy; give --repository and --workflow, or --identity"
            )
        jobs.append(_Job(dist, sha256_file(dist), found, policy, explicit))
    return jobs


def _verify_one(job: _Job, args: argparse.Namespace, key: SSlibKey | None) -> Verdict:
    name = job.dist.name
    if not job.evidence:
        return Verdict(name, reason="no attestation or provenance found for this file")
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
        for item in signed:
            assert job.policy is not None  # _plan refuses Sigstore evidence without a policy
            facts, statement = verify_signed_bundle(
                bundled_verifier(staging=args.staging), item, job.policy, name, job.sha256
            )
            statements.append(statement)
        if signed and facts is not None:
            assert job.policy is not None
            facts = replace(facts, environment=_environment(job.policy, signed, args))
    except CheckFailed as exc:
        return Verdict(name, reason=str(exc))
    return Verdict(
        name,
        facts=facts,
        predicate_types=tuple(sorted({str(doc["predicateType"]) for doc in statements})),
        sboms=tuple(sorted({sbom for doc in statements if (sbom := sbom_id(doc))})),
    )


def _environment(
    policy: Policy, signed: list[SignedBundle], args: argparse.Namespace
) -> str | None:
    """The environment, once per file: only PyPI's unsigned publisher records can name it."""
    records = [item.publisher for item in signed if item.publisher is not None]
    try:
        return policy.check_environment(records, trust_records=args.trust_index_publisher)
    except SigstoreError as exc:
        raise CheckFailed(str(exc)) from None


def verify(args: argparse.Namespace) -> list[Verdict]:
    """One verdict per file given (`args` as `configure` defines them); bad input: UsageError."""
    key = load_public_key(args.key) if args.key is not None else None
    jobs = _plan(args)
    return [_verify_one(job, args, key) for job in jobs]


def run(args: argparse.Namespace) -> int:
    verdicts = verify(args)
    print(render(verdicts, as_json=args.json))
    sys.stdout.flush()
    return 0 if all(v.ok for v in verdicts) else 1
