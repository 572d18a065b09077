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

A release directory (the GitHub release's assets, or `dist/`):
  verify DIR --repository OWNER/NAME --workflow release.yml
  verifies every distribution, the chart and every lock file in DIR (requirements*.txt,
  pylock*.toml, sbom.cdx.json): each lock must carry a signed statement naming its sha256,
  and its options, pins and hashes must agree with the SBOM signed with it. A lock file alone
  (`verify requirements.txt`) is verified the same way.

Straight from an index (PEP 691 JSON simple API, PEP 740 provenance):
  verify NAME==VERSION [--index-url URL] [--download-dir DIR]
  verify https://host/path/NAME-VERSION.tar.gz [--index-url URL]
  downloads every file of that version (or the one file), checks the sha256 the index
  lists, fetches each file's provenance (the index's `provenance` URL, else PyPI's
  /integrity/ API), verifies as below, and moves the files that pass (with their
  provenance) into --download-dir; nothing that fails is kept. Only https:// is used,
  except http:// to the loopback interface. Default index: https://pypi.org/simple/

Who must have signed (the policy). Every field is proven from a signature (the Fulcio
certificate; with --key, the signed in-toto statement) or the file FAILs with the reason:
  --repository OWNER/NAME --workflow FILE.yml   a GitHub Actions publisher (a GitLab
        project is given as https://gitlab.com/GROUP/NAME with --workflow .gitlab-ci.yml)
        (--repository alone: any workflow of it passes, and the output says
        `workflow: not pinned`)
    [--ref 'refs/tags/*']   the git ref, exact or a glob (quote it)
    [--trigger EVENT]       the workflow trigger, e.g. push or release
    [--repository-id ID] [--owner-id ID]   the numeric GitHub/GitLab IDs, as PyPI's Trusted
                            Publishing pins them (they survive renames; names do not)
    [--environment NAME]    the deployment environment: checked from the certificate (ext.
                            .23) when it carries it; else it FAILs unless you also pass
                            --trust-index-publisher
  --identity SAN [--issuer URL]   an exact certificate identity (e-mail or URI)
  --identity-regexp REGEX [--issuer URL]   an identity matching REGEX as a whole (anchored,
                                   unlike cosign's --certificate-identity-regexp)
  --source-digest SHA              the exact source commit (certificate ext. .13, or the SLSA
                                   statement's gitCommit); policy file: [require] source_digest
  --predicate-type URI             a statement type that must be among the verified ones
                                   (repeatable), e.g. https://slsa.dev/provenance/v1;
                                   policy file: [require] predicate_types
  --policy FILE                    read the publisher from a TOML file (attestations/policy.toml
                                   shows the keys; unknown keys and wrong types: exit 2)
  --trust-index-publisher          take the environment from PyPI's publisher record in a
                                   provenance file: it is not signed, you trust the index
                                   that served it (over TLS); the report labels it unsigned
  --staging                        the file was signed on Sigstore's staging instance
  --trusted-root FILE              a trusted_root.json to use instead of the bundled one
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
  integrated_time), `facts`: each fact with its source, and `evidence`: the full
  record of each verified signature (statement, certificate extensions, log entry,
  PyPI's unsigned publisher record). The report's shape is versioned
  (`schema_version`) and described by verify-report.schema.json in this package.
  `inspect` shows the same records for evidence without verifying it.

See docs/VERIFYING.md for a step-by-step walk-through.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

# Nothing heavy here: `verify --help` must answer without importing sigstore or pydantic (the
# verification lives in verify/run.py, imported by `run`; index.py needs `packaging` only).
from dask_kubernetes_release.verify.index import DEFAULT_INDEX_URL
from dask_kubernetes_release.verify.options import TRUST_RECORD_OPTION

if TYPE_CHECKING:
    from dask_kubernetes_release.verify.report import Verdict

PinValue = str | tuple[str, ...] | None


@dataclass(frozen=True)
class PinOption:
    """A pin (a field of verify/policy.py's `Pins`) offered on the command line."""

    pin: str  # the Pins field, and the option's dest
    option: str
    metavar: str
    help: str
    repeatable: bool = False


@dataclass(frozen=True)
class GivenPin:
    """A pin's value as the command line gave it, with the option that gave it (for messages)."""

    pin: str
    option: str
    value: PinValue


# One line per pin the command line offers; the pin's schema and check are its Pins field.
PIN_OPTIONS: tuple[PinOption, ...] = (
    PinOption("source_digest", "--source-digest", "SHA", "the exact source commit"),
    PinOption(
        "predicate_types", "--predicate-type", "URI",
        "require a verified statement of this type (repeatable)", repeatable=True,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class PublisherRequest:
    """A publisher policy as options give it (policy.PublisherPolicy validates it); all None:
    none given."""

    repository: str | None = None
    workflow: str | None = None
    ref: str | None = None
    environment: str | None = None
    trigger: str | None = None
    repository_id: str | None = None
    owner_id: str | None = None

    def given(self) -> dict[str, str]:
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}


@dataclass(frozen=True)
class VerifyRequest:
    """What `verify` is asked, typed and frozen: the engine (verify/run.py) takes this, never
    argparse's Namespace. `from_args` reads the options `configure` defines; the pipeline and
    tests build one directly. (run.py imports this class only to type-check: this module
    imports run.py, so nothing else of here may be imported there.)"""

    targets: tuple[str, ...]  # files, release directories, NAME==VERSION or file URLs
    index_url: str | None = None
    download_dir: Path | None = None
    provenance: tuple[Path, ...] = ()
    attestation: tuple[Path, ...] = ()
    key: Path | None = None
    publisher: PublisherRequest = field(default_factory=PublisherRequest)
    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None
    policy: Path | None = None
    pins: tuple[GivenPin, ...] = ()  # as PIN_OPTIONS give them
    trust_index_publisher: bool = False
    staging: bool = False
    trusted_root: Path | None = None
    json: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> VerifyRequest:
        pins: list[GivenPin] = []
        for pin in PIN_OPTIONS:
            value = getattr(args, pin.pin)
            value = tuple(value) if isinstance(value, list) else value
            pins.append(GivenPin(pin.pin, pin.option, value))
        return cls(
            targets=tuple(args.dists),
            index_url=args.index_url,
            download_dir=args.download_dir,
            provenance=tuple(args.provenance),
            attestation=tuple(args.attestation),
            key=args.key,
            publisher=PublisherRequest(
                **{f.name: getattr(args, f.name) for f in fields(PublisherRequest)}
            ),
            identity=args.identity,
            identity_regexp=args.identity_regexp,
            issuer=args.issuer,
            policy=args.policy,
            pins=tuple(pins),
            trust_index_publisher=args.trust_index_publisher,
            staging=args.staging,
            trusted_root=args.trusted_root,
            json=args.json,
        )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dists", nargs="+", metavar="DIST",
        help="files or release directories to verify; or NAME==VERSION, or a file's URL, to fetch "
        "from the index",
    )  # fmt: skip
    remote = parser.add_argument_group("from an index (NAME==VERSION or a file URL)")
    remote.add_argument("--index-url", metavar="URL", help=f"default {DEFAULT_INDEX_URL}")
    remote.add_argument(
        "--download-dir", type=Path, metavar="DIR", help="keep the files that pass here"
    )
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
    policy.add_argument("--identity-regexp", metavar="REGEX", help="matched as a whole")
    policy.add_argument("--issuer", metavar="URL")
    for pin in PIN_OPTIONS:
        if pin.repeatable:
            policy.add_argument(
                pin.option, dest=pin.pin, action="append", default=[], metavar=pin.metavar,
                help=pin.help,
            )  # fmt: skip
        else:
            policy.add_argument(pin.option, dest=pin.pin, metavar=pin.metavar, help=pin.help)
    policy.add_argument("--policy", type=Path, metavar="TOML", help="a policy file")
    policy.add_argument(
        TRUST_RECORD_OPTION,
        action="store_true",
        help="take the environment from PyPI's publisher record in a provenance file, which is "
        "not signed (trust the index that served it over TLS)",
    )
    parser.add_argument("--staging", action="store_true", help="Sigstore's staging instance")
    parser.add_argument(
        "--trusted-root",
        type=Path,
        metavar="FILE",
        help="a trusted_root.json to use instead of the bundled one",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable report")


def verify(request: VerifyRequest) -> list[Verdict]:
    """One verdict per file asked for; bad input: UsageError."""
    from dask_kubernetes_release.verify.run import verify as verify_all

    return verify_all(request)


def run(args: argparse.Namespace) -> int:
    from dask_kubernetes_release.verify.run import run as run_verify

    return run_verify(VerifyRequest.from_args(args))
