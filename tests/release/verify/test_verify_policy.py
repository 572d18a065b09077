"""The publisher policy, checked against real Fulcio certificates from PyPI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from pypi_attestations import Attestation
from sigstore.errors import VerificationError

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.verify.policy import (
    PROJECT_POLICY,
    PublisherPolicy,
    load_policy_file,
    policy_from_options,
)
from dask_kubernetes_release.verify.run import _policy_for

TOB = "pypi_attestations-0.0.19.tar.gz.publish.attestation"


@pytest.fixture
def tob_cert(attestation_fixtures: Path) -> x509.Certificate:
    attestation = Attestation.model_validate_json((attestation_fixtures / TOB).read_bytes())
    return x509.load_der_x509_certificate(attestation.verification_material.certificate)


def test_project_policy_file() -> None:
    projects, policy = load_policy_file(PROJECT_POLICY)
    assert projects == ("dask-kubernetes", "dask-kubernetes-release")  # and its verifier
    assert policy == PublisherPolicy(
        repository="dask/dask-kubernetes",
        workflow="release.yml",
        ref="refs/tags/*",
        trigger="push",
        runner_environment="github-hosted",
    )
    assert policy.environment is None  # no signature can show it: see the file's comment


def test_project_policy_is_the_default_only_for_our_files() -> None:
    ours, _pins = _policy_for(Path("dask_kubernetes-2026.11.0-py3-none-any.whl"), None)
    assert ours is not None
    assert ours.describe() == "dask/dask-kubernetes release.yml at refs/tags/*"
    assert _policy_for(Path("Dask.Kubernetes-2026.11.0.tar.gz"), None)[0] == ours
    assert _policy_for(Path("distributed-2026.8.0.tar.gz"), None)[0] is None
    # the verifier is released by the same workflow, so the same policy is its default
    assert _policy_for(Path("dask_kubernetes_release-2026.11.0.tar.gz"), None)[0] == ours
    assert _policy_for(Path("dask_kubernetes_releases-2026.11.0.tar.gz"), None)[0] is None


def test_a_policy_file_names_one_project_or_several(tmp_path: Path) -> None:
    one, several = tmp_path / "one.toml", tmp_path / "several.toml"
    publisher = '[publisher]\nrepository = "o/n"\nworkflow = "r.yml"\n'
    one.write_text(f'project = "a"\n{publisher}')
    several.write_text(f'project = ["a", "b"]\n{publisher}')
    assert load_policy_file(one)[0] == ("a",)
    assert load_policy_file(several)[0] == ("a", "b")
    broken = tmp_path / "broken.toml"
    broken.write_text(f"project = [1]\n{publisher}")
    with pytest.raises(UsageError):
        load_policy_file(broken)


def test_project_policy_refuses_another_projects_certificate(tob_cert: x509.Certificate) -> None:
    _, policy = load_policy_file(PROJECT_POLICY)
    with pytest.raises(
        VerificationError, match=r"the repository is https://github\.com/trailofbits"
    ):
        policy.sigstore_policy().verify(tob_cert)


def _tob(**fields: str) -> PublisherPolicy:
    return PublisherPolicy.model_validate(
        {"repository": "trailofbits/pypi-attestations", "workflow": "release.yml", **fields}
    )


@pytest.mark.parametrize(
    ("policy", "error"),
    [
        (_tob(ref="refs/tags/v*"), None),
        (_tob(trigger="release"), None),
        (_tob(repository_id="772247423", owner_id="2314423"), None),
        (_tob(trigger="push"), "the trigger event is release"),
        (_tob(runner_environment="self-hosted"), "the runner is github-hosted"),
        (
            _tob(forge="gitlab"),
            "the OIDC token issuer is https://token.actions.githubusercontent.com",
        ),
        (_tob(workflow="ci.yml"), "the policy expects ci.yml"),
        (_tob(repository_id="772247424"), "the repository ID is 772247423"),
        (_tob(owner_id="1"), "the owner ID is 2314423, the policy expects 1"),
    ],
)
def test_publisher_checks(
    tob_cert: x509.Certificate, policy: PublisherPolicy, error: str | None
) -> None:
    if error is None:
        policy.sigstore_policy().verify(tob_cert)
    else:
        with pytest.raises(VerificationError, match=error):
            policy.sigstore_policy().verify(tob_cert)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dask/dask-kubernetes", ("github", "dask/dask-kubernetes")),
        ("https://github.com/dask/dask-kubernetes/", ("github", "dask/dask-kubernetes")),
        ("https://gitlab.com/group/sub/project", ("gitlab", "group/sub/project")),
    ],
)
def test_parse_repository(text: str, expected: tuple[str, str]) -> None:
    policy = policy_from_options({"repository": text, "workflow": "release.yml"})
    assert (policy.forge, policy.repository) == expected


@pytest.mark.parametrize("text", ["dask", "a/b/c", "https://example.com/a/b", "/x"])
def test_parse_repository_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="repository: expected OWNER/NAME"):
        policy_from_options({"repository": text, "workflow": "release.yml"})


def test_policy_file_errors(tmp_path: Path, release: Callable[..., object]) -> None:
    broken = tmp_path / "policy.toml"
    broken.write_text("[publisher\n")
    with pytest.raises(UsageError, match="not a usable policy file"):
        load_policy_file(broken)
    broken.write_text('[publisher]\nworkflow = "release.yml"\n')
    with pytest.raises(UsageError, match="repository"):
        load_policy_file(broken)
    # A repository alone is a policy (as on the command line), and it says what it leaves open.
    broken.write_text('[publisher]\nrepository = "a/b"\n')
    _projects, loose = load_policy_file(broken)
    assert loose.not_pinned() == {"workflow": "any workflow of a/b"}


def test_attest_bad_input(release: Callable[..., object], tmp_path: Path) -> None:
    missing = release("attest", tmp_path / "nowhere", "--key", tmp_path / "k")
    assert missing.code == 2  # type: ignore[attr-defined]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x-1.0.tar.gz").write_bytes(b"not really")
    no_key = release("attest", empty, "--key", tmp_path / "absent.key")
    assert no_key.code == 2  # type: ignore[attr-defined]
    assert "absent.key: no such file" in no_key.err  # type: ignore[attr-defined]
    garbage = tmp_path / "garbage.key"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnope\n")
    bad_key = release("attest", empty, "--key", garbage)
    assert bad_key.code == 2  # type: ignore[attr-defined]
    assert "not a usable PEM private key" in bad_key.err  # type: ignore[attr-defined]
    assert sorted(p.name for p in empty.iterdir()) == ["x-1.0.tar.gz"]
    neither = release("attest", empty)
    assert neither.code == 2  # type: ignore[attr-defined]


def test_missing_key_evidence_is_a_failure(release: Callable[..., object], tmp_path: Path) -> None:
    assert release("keygen", tmp_path / "k").code == 0  # type: ignore[attr-defined]
    dist = tmp_path / "x-1.0.tar.gz"
    dist.write_bytes(b"data")
    result = release("verify", dist, "--key", tmp_path / "k.pub")
    assert result.code == 1  # type: ignore[attr-defined]
    assert result.out.startswith("FAIL x-1.0.tar.gz: no attestation")  # type: ignore[attr-defined]
