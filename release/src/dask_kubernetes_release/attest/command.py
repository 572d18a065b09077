"""Write in-toto attestations for every distribution in DIR (and the chart archive, if any).

For each wheel/sdist, `<file>.intoto.jsonl` gets one signed line per statement: a PyPI
publish statement, a SLSA provenance v1 statement and, when `release lock` wrote
`sbom.cdx.json`, a CycloneDX SBOM statement (predicate type https://cyclonedx.org/bom), each
naming the file and its sha256 as the only subject. With --key the lines are DSSE envelopes
signed with a local key (`release keygen`); with --sigstore they are Sigstore bundles signed
keylessly with the CI job's OIDC identity (on the public instance; `--trust-config FILE` names
another, e.g. the local one tests and the rehearsal use), and `<file>.publish.attestation`
(PEP 740, as PyPI accepts on upload) is written too when PEP 740 can carry the bundle (not
for the chart: PyPI never sees it; its statements are all Sigstore bundles in `.intoto.jsonl`,
and the SBOM, which describes the Python distributions, is not among them).

Each lock file users install from (requirements*.txt, pylock*.toml, and the SBOM itself) gets
`<lock>.intoto.jsonl` too: a SLSA provenance statement naming the lock file and its sha256 and,
when there is an SBOM, a CycloneDX statement carrying it, so `verify` holds every pin of the lock
to the signed SBOM. Check the result with `release verify DIR`.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from dask_kubernetes_release.attest.key import envelope_lines, load_signer
from dask_kubernetes_release.attest.provenance import (
    BuildContext,
    locked_toolchain,
    recorded_toolchain,
    slsa_predicate,
)
from dask_kubernetes_release.attest.sigstore import open_signer, sign_distribution, sign_statements
from dask_kubernetes_release.build.toolchain import read_record
from dask_kubernetes_release.core import clock
from dask_kubernetes_release.core.digests import sha256_file
from dask_kubernetes_release.core.dists import (
    TOOLCHAIN_NAME,
    find_charts,
    find_distributions,
    is_distribution_name,
)
from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.files import write_atomically
from dask_kubernetes_release.core.lockfiles import present_lock_files
from dask_kubernetes_release.core.statements import (
    CYCLONEDX_BOM,
    PYPI_PUBLISH,
    SLSA_PROVENANCE,
    statement,
)
from dask_kubernetes_release.lock.sbom import load_sbom


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, metavar="DIR", help="directory with the distributions")
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--key", type=Path, metavar="PATH", help="sign with a local private key")
    how.add_argument("--sigstore", action="store_true", help="sign keylessly (CI OIDC identity)")
    parser.add_argument("--staging", action="store_true", help="use Sigstore's staging instance")
    parser.add_argument(
        "--trust-config",
        type=Path,
        metavar="FILE",
        help="with --sigstore: sign on the Sigstore instance this client trust config names "
        "(trusted root + signing config, as `sigstore --trust-config` takes)",
    )
    parser.add_argument(
        "--started-on",
        metavar="ISO-8601",
        help="when the build started (default: the oldest distribution's mtime)",
    )


def _moment(text: str) -> datetime:
    try:
        return clock.parse(text)
    except ValueError:
        raise UsageError(f"--started-on: not an ISO-8601 time: {text!r}") from None


def _statements(
    dist: Path, sha256: str, predicate: dict[str, Any], sbom: dict[str, Any] | None
) -> list[dict[str, Any]]:
    found = [
        statement(dist.name, sha256, PYPI_PUBLISH, None),
        statement(dist.name, sha256, SLSA_PROVENANCE, predicate),
    ]
    if sbom is not None:  # `release lock` wrote one: signed as a third statement
        found.append(statement(dist.name, sha256, CYCLONEDX_BOM, sbom))
    return found


def _lock_statements(
    lock: Path, predicate: dict[str, Any], sbom: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """A lock file's statements: who built it (SLSA) and the SBOM its pins must agree with."""
    sha256 = sha256_file(lock)
    found = [statement(lock.name, sha256, SLSA_PROVENANCE, predicate)]
    if sbom is not None:
        found.append(statement(lock.name, sha256, CYCLONEDX_BOM, sbom))
    return found


def _toolchain(directory: Path, digests: dict[Path, str]) -> list[dict[str, Any]]:
    """The build's own record when it describes these very files, else the lock's pins."""
    record = read_record(directory / TOOLCHAIN_NAME)
    if record is None:
        return locked_toolchain()
    for dist, sha256 in digests.items():
        if is_distribution_name(dist.name) and not record.describes(dist.name, sha256):
            raise UsageError(
                f"{directory / TOOLCHAIN_NAME} was not written for {dist.name} as it is now "
                "(rebuild, or remove it to attest with the lock's pins)"
            )
    return recorded_toolchain(record)


def attest(
    directory: Path,
    *,
    key: Path | None = None,
    sigstore: bool = False,
    staging: bool = False,
    started_on: str | None = None,
    trust_config: Path | None = None,
) -> list[Path]:
    """Attest every distribution and chart in `directory`; returns the files written."""
    if (key is None) == (not sigstore):
        raise UsageError("attest needs exactly one of a key or Sigstore")
    if trust_config is not None and (not sigstore or staging):
        raise UsageError("--trust-config goes with --sigstore (and not with --staging)")
    dists = find_distributions(directory, allow_empty=True) + find_charts(directory)
    if not dists:
        raise UsageError(f"nothing to attest (.whl, .tar.gz, chart .tgz) in {directory}")
    mtimes = [clock.from_timestamp(d.stat().st_mtime) for d in dists]
    started = _moment(started_on) if started_on else min(mtimes)
    digests = {dist: sha256_file(dist) for dist in dists}
    toolchain = _toolchain(directory, digests)
    predicate = slsa_predicate(BuildContext.detect(os.environ), started, max(mtimes), toolchain)
    # The SBOM describes the Python distributions (its root lists their digests), not the chart.
    sbom = load_sbom(directory, {d: h for d, h in digests.items() if is_distribution_name(d.name)})
    written: list[Path] = []
    locks = {
        lock: _lock_statements(lock, predicate, sbom) for lock in present_lock_files(directory)
    }
    if key is not None:
        signer = load_signer(key)
        key_id = signer.public_key.keyid[:16]
        for lock, statements in locks.items():
            write_atomically(Path(f"{lock}.intoto.jsonl"), envelope_lines(signer, statements))
            written.append(Path(f"{lock}.intoto.jsonl"))
            print(f"attested {lock.name} -> {lock.name}.intoto.jsonl (key {key_id})")
        for dist, sha256 in digests.items():
            own_sbom = sbom if is_distribution_name(dist.name) else None
            lines = envelope_lines(signer, _statements(dist, sha256, predicate, own_sbom))
            write_atomically(Path(f"{dist}.intoto.jsonl"), lines)
            written.append(Path(f"{dist}.intoto.jsonl"))
            print(f"attested {dist.name} -> {dist.name}.intoto.jsonl (key {key_id})")
        return written
    with open_signer(staging=staging, config=trust_config) as sigstore_signer:
        for lock, statements in locks.items():
            lock_jsonl = Path(f"{lock}.intoto.jsonl")
            write_atomically(lock_jsonl, sign_statements(sigstore_signer, *statements))
            written.append(lock_jsonl)
            print(f"attested {lock.name} -> .intoto.jsonl (Sigstore)")
        for dist, sha256 in digests.items():
            if not is_distribution_name(dist.name):  # the chart: no PEP 740 file, no SBOM
                statements = _statements(dist, sha256, predicate, None)
                write_atomically(
                    Path(f"{dist}.intoto.jsonl"), sign_statements(sigstore_signer, *statements)
                )
                written.append(Path(f"{dist}.intoto.jsonl"))
                print(f"attested {dist.name} -> .intoto.jsonl (Sigstore)")
                continue
            slsa, *extra = _statements(dist, sha256, predicate, sbom)[1:]
            jsonl, pep740 = sign_distribution(sigstore_signer, dist.name, sha256, slsa, extra)
            write_atomically(Path(f"{dist}.intoto.jsonl"), jsonl)
            written.append(Path(f"{dist}.intoto.jsonl"))
            if pep740 is None:
                print(
                    f"attested {dist.name} -> .intoto.jsonl (Sigstore); no .publish.attestation: "
                    "PEP 740 cannot carry the timestamps a Rekor v2 entry needs"
                )
                continue
            write_atomically(Path(f"{dist}.publish.attestation"), pep740)
            written.append(Path(f"{dist}.publish.attestation"))
            print(f"attested {dist.name} -> .intoto.jsonl, .publish.attestation (Sigstore)")
    return written


def run(args: argparse.Namespace) -> int:
    attest(
        args.dir,
        key=args.key,
        sigstore=args.sigstore,
        staging=args.staging,
        started_on=args.started_on,
        trust_config=args.trust_config,
    )
    return 0
