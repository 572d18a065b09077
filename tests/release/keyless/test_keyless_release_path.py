"""`release attest --sigstore` as release.yml runs it, keylessly, on the local Sigstore.

Mocked boundary (and only it): GitHub Actions' OIDC issuer is ours; the job's token request
(ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN) goes to it, as it goes to GitHub in release.yml. The
certificate comes from a real Fulcio (which looked our issuer up at GitHub's issuer URL), its SCT
from a real CT log, the entry from a real Rekor v2 and the time from a real timestamp authority.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from pypi_attestations import Attestation
from sigstore.models import Bundle

from dask_kubernetes_release.localsigstore.instance import LocalSigstore
from dask_kubernetes_release.localsigstore.issuer import GITHUB_ISSUER, github_claims
from dask_kubernetes_release.verify import claims as oids

ROOT = Path(__file__).resolve().parents[3]


def _release(*args: object, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "release", *map(str, args)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _bundles(path: Path) -> list[Bundle]:
    return [Bundle.from_json(line) for line in path.read_text().splitlines()]


def test_attest_then_verify_as_release_yml_does(
    local_sigstore: LocalSigstore,
    make_dist: Callable[..., Path],
    clean_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """The attest job's two commands, as processes with a job's environment: every bundle
    verifies against the instance's trusted root with release.yml's own verify options, and
    with the project's default policy (tags, push, GitHub-hosted)."""
    dist = tmp_path / "dist"
    dist.mkdir()
    make_dist(dist, "dask_kubernetes-2026.12.0-py3-none-any.whl", version="2026.12.0")
    make_dist(dist, "dask_kubernetes-2026.12.0.tar.gz", version="2026.12.0")
    claims = github_claims(ref="refs/tags/2026.12.0")
    env = {**clean_env, **local_sigstore.job_env(claims)}
    trust = local_sigstore.trust_config_path
    attested = _release("attest", dist, "--sigstore", "--trust-config", trust, env=env)
    assert attested.returncode == 0, attested.stderr
    assert attested.stdout.count("(Sigstore)") == 2

    root = local_sigstore.trusted_root_path
    # release.yml: verify dist --repository "$GITHUB_REPOSITORY" --workflow release.yml --ref ...
    checked = _release(
        "verify", dist, "--trusted-root", root, "--repository", env["GITHUB_REPOSITORY"],
        "--workflow", "release.yml", "--ref", env["GITHUB_REF"], env=clean_env,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("OK dask_kubernetes-2026.12.0") == 2
    assert "token_issuer: https://token.actions.githubusercontent.com" in checked.stdout
    default = _release("verify", dist, "--trusted-root", root, env=clean_env)
    assert default.returncode == 0, default.stdout + default.stderr

    # Without the instance's trusted root the bundles are nobody's: the bundled (public) root
    # refuses them.
    public = _release("verify", dist, env=clean_env)
    assert public.returncode == 1
    assert "FAIL" in public.stdout


def test_the_certificate_carries_the_tokens_claims(
    sign: Callable[..., Path], local_sigstore: LocalSigstore
) -> None:
    """Fulcio turned our token's claims into the extensions the verifier reads (the same
    mapping as Sigstore's public Fulcio), and logged the certificate in the CT log (SCT)."""
    claims = github_claims()
    dist = sign()
    (jsonl,) = dist.glob("*.intoto.jsonl")
    bundles = _bundles(jsonl)
    assert len(bundles) == 2  # PyPI's publish statement, SLSA provenance (no SBOM here)
    cert = bundles[0].signing_certificate
    assert oids.extension_text(cert, oids.ISSUER) == GITHUB_ISSUER
    assert oids.extension_text(cert, oids.SOURCE_REPOSITORY_URI) == (
        f"https://github.com/{claims['repository']}"
    )
    assert oids.extension_text(cert, oids.SOURCE_REPOSITORY_ID) == claims["repository_id"]
    assert oids.extension_text(cert, oids.BUILD_CONFIG_URI) == (
        f"https://github.com/{claims['workflow_ref']}"
    )
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"https://github.com/{claims['job_workflow_ref']}"
    ]
    cert.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps)
    issuer = x509.load_pem_x509_certificate(
        (local_sigstore.directory / "keys" / "fulcio-root.pem").read_bytes()
    )
    assert cert.issuer == issuer.subject
    # Rekor v2: no integrated time of its own; the time is the TSA's signed timestamp.
    for bundle in bundles:
        assert bundle.log_entry._inner.kind_version.version == "0.0.2"
        timestamps = bundle.verification_material.timestamp_verification_data
        assert timestamps is not None and timestamps.rfc3161_timestamps


def test_pep740_cannot_carry_a_rekor_v2_entry(
    sign: Callable[..., Path], release: Callable[..., Any]
) -> None:
    """Why the local instance writes no `.publish.attestation` and pypi-attestations cannot
    check its bundles: PEP 740's attestation object has no field for RFC 3161 timestamps, and
    a Rekor v2 entry has no signed time of its own (pypi-attestations issue #142). The
    conversion loses the timestamps, and the result no longer is a valid bundle."""
    dist = sign()
    assert not list(dist.glob("*.publish.attestation"))
    (jsonl,) = dist.glob("*.intoto.jsonl")
    publish = _bundles(jsonl)[0]
    converted = Attestation.from_bundle(publish)
    assert "timestamp" not in json.dumps(converted.model_dump(mode="json"))
    try:
        converted.to_bundle()
    except Exception as exc:
        assert "inclusion promise or signed timestamp" in str(exc)
    else:
        raise AssertionError("a PEP 740 object without timestamps made a valid Rekor v2 bundle")
    # The bundle as signed keeps them: it is what `.intoto.jsonl` holds, and it verifies.
    raw = json.loads(jsonl.read_text().splitlines()[0])
    assert base64.b64decode(
        raw["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0][
            "signedTimestamp"
        ]
    )
