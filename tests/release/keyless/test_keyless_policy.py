"""The verifier held to certificates whose claims we chose: each claim the policy checks, changed
alone in the token, fails verification with a reason naming that claim; the right token passes.

Mocked boundary (and only it): GitHub Actions' OIDC issuer is ours, so the test sets every claim;
the certificates come from a real Fulcio, the entries from a real Rekor v2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sigstore.models import Bundle

from dask_kubernetes_release.localsigstore.instance import LocalSigstore
from dask_kubernetes_release.localsigstore.issuer import github_claims

DEPLOYMENT_ENVIRONMENT = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.23")
RIGHT = github_claims()
OTHER_SHA = "fedcba9876543210fedcba9876543210fedcba98"
POLICY = f"""\
[publisher]
repository = "{RIGHT["repository"]}"
workflow = "release.yml"
ref = "refs/tags/v*"
trigger = "push"
runner_environment = "github-hosted"
environment = "pypi"
repository_id = "{RIGHT["repository_id"]}"
owner_id = "{RIGHT["repository_owner_id"]}"

[require]
source_digest = "{RIGHT["sha"]}"
"""

# claim changed alone -> (its value in the token, what the reason must say)
CHANGED: dict[str, tuple[str, str]] = {
    "repository": ("evil/dask-kubernetes", "the repository is https://github.com/evil/"),
    "repository_id": ("111111", "the repository ID is 111111"),
    "repository_owner_id": ("222222", "the owner ID is 222222"),
    "workflow_ref": (
        "dask/dask-kubernetes/.github/workflows/other.yml@refs/tags/v2026.12.0",
        "signed by workflow https://github.com/dask/dask-kubernetes/.github/workflows/other.yml",
    ),
    "ref": ("refs/heads/main", "the git ref is refs/heads/main"),
    "event_name": ("workflow_dispatch", "the trigger event is workflow_dispatch"),
    "runner_environment": ("self-hosted", "the runner is self-hosted"),
    "environment": ("staging", "the deployment environment is staging"),
    "sha": (OTHER_SHA, f"the source commit is {OTHER_SHA}"),
}


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    return path


def _verify(
    release: Callable[..., Any], dist: Path, root: Path, *options: object
) -> tuple[int, str]:
    result = release("verify", dist, "--trusted-root", root, *options)
    return result.code, result.out + result.err


def test_the_right_token_passes(
    sign: Callable[..., Path],
    release: Callable[..., Any],
    local_sigstore: LocalSigstore,
    policy: Path,
) -> None:
    dist = sign()
    code, out = _verify(release, dist, local_sigstore.trusted_root_path, "--policy", policy)
    assert code == 0, out
    assert "OK dask_kubernetes-2026.12.0-py3-none-any.whl" in out


@pytest.mark.slow
@pytest.mark.parametrize("claim", sorted(CHANGED))
def test_one_changed_claim_fails_naming_it(
    claim: str,
    sign: Callable[..., Path],
    release: Callable[..., Any],
    local_sigstore: LocalSigstore,
    policy: Path,
) -> None:
    value, reason = CHANGED[claim]
    dist = sign(**{claim: value})
    code, out = _verify(release, dist, local_sigstore.trusted_root_path, "--policy", policy)
    assert code == 1, out
    assert "FAIL dask_kubernetes-2026.12.0-py3-none-any.whl" in out
    assert reason in out, out


def test_the_environment_is_checked_from_the_certificate(
    sign: Callable[..., Path], release: Callable[..., Any], local_sigstore: LocalSigstore
) -> None:
    """Fulcio (v1.8.8, and Sigstore's public Fulcio with the same issuer configuration) writes
    the token's `environment` into the certificate (OID 1.3.6.1.4.1.57264.1.23): `verify
    --environment` reads it there, signed, with no need to trust PyPI's publisher record. The
    token signed in environment `staging` fails naming it; `pypi` passes; the JSON report labels
    the environment as signed by the certificate."""
    verdicts: dict[str, tuple[int, str]] = {}
    for environment in ("pypi", "staging"):
        dist = sign(name=f"dist-{environment}", environment=environment)
        (jsonl,) = dist.glob("*.intoto.jsonl")
        cert = Bundle.from_json(jsonl.read_text().splitlines()[0]).signing_certificate
        extension = cert.extensions.get_extension_for_oid(DEPLOYMENT_ENVIRONMENT).value
        assert isinstance(extension, x509.UnrecognizedExtension)
        assert extension.value.endswith(environment.encode())
        verdicts[environment] = _verify(
            release, dist, local_sigstore.trusted_root_path,
            "--repository", RIGHT["repository"], "--environment", "pypi", "--json",
        )  # fmt: skip
    code, out = verdicts["staging"]
    assert code == 1, out
    assert "the deployment environment is staging, the policy expects pypi" in out, out
    code, out = verdicts["pypi"]
    assert code == 0, out
    (report,) = json.loads(out)["files"]
    facts = {fact["name"]: fact for fact in report["facts"]}
    assert facts["environment"]["value"] == "pypi", out
    assert facts["environment"]["source"] == "signed: Fulcio certificate", out


def test_a_certificate_without_the_environment_still_needs_the_record(
    sign: Callable[..., Path], release: Callable[..., Any], local_sigstore: LocalSigstore
) -> None:
    """A token with no environment (a job outside any environment) gets a certificate without
    ext. .23: `--environment` then fails closed, as for older certificates."""
    dist = sign(name="dist-none", environment=None)
    code, out = _verify(
        release, dist, local_sigstore.trusted_root_path,
        "--repository", RIGHT["repository"], "--environment", "pypi",
    )  # fmt: skip
    assert code == 1, out
    assert "which no signature shows" in out, out


def test_a_token_from_another_issuer_gets_no_certificate(
    job: Callable[..., dict[str, str]],
    make_dist: Callable[..., Path],
    release: Callable[..., Any],
    local_sigstore: LocalSigstore,
    tmp_path: Path,
) -> None:
    """Fulcio accepts only the issuers it is configured for (GitHub's): a token that names
    another issuer, signed by the same key, is refused and nothing is written."""
    make_dist(tmp_path, "dask_kubernetes-2026.12.0-py3-none-any.whl", version="2026.12.0")
    job(github_claims(iss="https://token.actions.example.invalid"))
    result = release(
        "attest", tmp_path, "--sigstore", "--trust-config", local_sigstore.trust_config_path
    )
    assert result.code == 1, result.out + result.err
    assert "Sigstore signing failed" in result.err
    assert "Traceback" not in result.err
    assert not list(tmp_path.glob("*.intoto.jsonl"))
