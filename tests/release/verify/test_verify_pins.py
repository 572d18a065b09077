"""Policy knobs on real PyPI fixtures: each passes where it should and fails where it should.

`--source-digest` (and `[require] source_digest`), `--predicate-type` (and `[require]
predicate_types`), `--identity-regexp` (matched as a whole, never searched), `--trusted-root`.
Plus the friendlier failures: staging-signed evidence, and key-signed evidence without --key.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

SIGSTORE = "sigstore-3.6.1.tar.gz"
PYPI_ATT = "pypi_attestations-0.0.19.tar.gz"
RFC8785 = "rfc8785-0.1.2-py3-none-any.whl"
GITLAB = "gitlab_oidc_project-0.0.3.tar.gz"
SIGSTORE_COMMIT = "896cfe13105495e6dc6f8faf23e1007da35edeeb"
SIGSTORE_POLICY = ("--repository", "sigstore/sigstore-python", "--workflow", "release.yml")
TOB_POLICY = ("--repository", "trailofbits/pypi-attestations", "--workflow", "release.yml")
SLSA = "https://slsa.dev/provenance/v1"
PUBLISH = "https://docs.pypi.org/attestations/publish/v1"


def _root(instance: str) -> bytes:
    directory = f"https%3A%2F%2Ftuf-repo-cdn.{instance}.dev"
    return resources.files("sigstore._store").joinpath(directory, "trusted_root.json").read_bytes()


def test_source_digest_pins_the_commit(
    release: Callable[..., object], attestation_fixtures: Path
) -> None:
    dist = attestation_fixtures / SIGSTORE
    ok = release("verify", dist, *SIGSTORE_POLICY, "--source-digest", SIGSTORE_COMMIT)
    assert ok.code == 0, ok.out  # type: ignore[attr-defined]
    other = "1" * 40
    bad = release("verify", dist, *SIGSTORE_POLICY, "--source-digest", other)
    assert bad.code == 1  # type: ignore[attr-defined]
    assert bad.out == (  # type: ignore[attr-defined]
        f"FAIL {SIGSTORE}: the source commit is {SIGSTORE_COMMIT}, the policy expects {other}\n"
    )
    garbled = release("verify", dist, *SIGSTORE_POLICY, "--source-digest", "HEAD")
    assert garbled.code == 2  # type: ignore[attr-defined]
    assert garbled.err.startswith("error: --source-digest: ")  # type: ignore[attr-defined]


def test_predicate_type_requires_slsa_provenance(
    release: Callable[..., object], attestation_fixtures: Path
) -> None:
    # pypi-attestations published a SLSA provenance beside its publish attestation...
    both = release("verify", attestation_fixtures / PYPI_ATT, *TOB_POLICY, "--predicate-type", SLSA)
    assert both.code == 0, both.out  # type: ignore[attr-defined]
    # ...sigstore's provenance holds only PyPI's publish statement.
    only = release("verify", attestation_fixtures / SIGSTORE, *SIGSTORE_POLICY,
                   "--predicate-type", SLSA, "--predicate-type", PUBLISH)  # fmt: skip
    assert only.code == 1  # type: ignore[attr-defined]
    assert only.out == (  # type: ignore[attr-defined]
        f"FAIL {SIGSTORE}: no verified statement of type {SLSA} (verified: {PUBLISH})\n"
    )


def test_policy_file_require_table(
    release: Callable[..., object], attestation_fixtures: Path, tmp_path: Path
) -> None:
    def policy(require: str) -> Path:
        path = tmp_path / "policy.toml"
        path.write_text(
            '[publisher]\nrepository = "sigstore/sigstore-python"\nworkflow = "release.yml"\n'
            f"[require]\n{require}\n"
        )
        return path

    dist = attestation_fixtures / SIGSTORE
    ok = release("verify", dist, "--policy", policy(f'source_digest = "{SIGSTORE_COMMIT}"'))
    assert ok.code == 0, ok.out + ok.err  # type: ignore[attr-defined]
    bad = release("verify", dist, "--policy", policy(f'predicate_types = ["{SLSA}"]'))
    assert bad.code == 1  # type: ignore[attr-defined]
    assert f"no verified statement of type {SLSA}" in bad.out  # type: ignore[attr-defined]
    unknown = release("verify", dist, "--policy", policy('commit = "x"'))
    assert unknown.code == 2  # type: ignore[attr-defined]
    assert "require.commit" in unknown.err  # type: ignore[attr-defined]


def test_identity_regexp_must_match_the_whole_identity(
    release: Callable[..., object], attestation_fixtures: Path
) -> None:
    dist = attestation_fixtures / GITLAB
    whole = r"https://gitlab\.com/facutuesca/[^/]+//\.gitlab-ci\.yml@refs/heads/main"
    ok = release("verify", dist, "--identity-regexp", whole, "--issuer", "https://gitlab.com")
    assert ok.code == 0, ok.out  # type: ignore[attr-defined]
    # A pattern that only *occurs* in the identity does not match: no unanchored search.
    part = r"gitlab\.com/facutuesca/.*"
    bad = release("verify", dist, "--identity-regexp", part)
    assert bad.code == 1  # type: ignore[attr-defined]
    assert f"matching {part!r} (the whole identity)" in bad.out  # type: ignore[attr-defined]
    wrong_issuer = release(
        "verify", dist, "--identity-regexp", whole, "--issuer", "https://token.actions.githubusercontent.com"
    )  # fmt: skip
    assert wrong_issuer.code == 1  # type: ignore[attr-defined]
    broken = release("verify", dist, "--identity-regexp", "(")
    assert broken.code == 2  # type: ignore[attr-defined]
    assert "not a regular expression" in broken.err  # type: ignore[attr-defined]


def test_trusted_root_file(
    release: Callable[..., object], attestation_fixtures: Path, tmp_path: Path
) -> None:
    production = tmp_path / "production.json"
    production.write_bytes(_root("sigstore"))
    staging = tmp_path / "staging.json"
    staging.write_bytes(_root("sigstage"))
    dist = attestation_fixtures / SIGSTORE
    ok = release("verify", dist, *SIGSTORE_POLICY, "--trusted-root", production)
    assert ok.code == 0, ok.out  # type: ignore[attr-defined]
    bad = release("verify", dist, *SIGSTORE_POLICY, "--trusted-root", staging)
    assert bad.code == 1  # type: ignore[attr-defined]
    assert "does not chain to Sigstore's root of trust" in bad.out  # type: ignore[attr-defined]
    staged = release("verify", attestation_fixtures / RFC8785, "--identity",
                     "william@yossarian.net", "--trusted-root", staging)  # fmt: skip
    assert staged.code == 0, staged.out  # type: ignore[attr-defined]
    garbled = tmp_path / "garbled.json"
    garbled.write_text('{"mediaType": 5}')
    unusable = release("verify", dist, *SIGSTORE_POLICY, "--trusted-root", garbled)
    assert unusable.code == 2  # type: ignore[attr-defined]
    assert "not a usable Sigstore trusted root" in unusable.err  # type: ignore[attr-defined]


def test_production_evidence_checked_as_staging_says_so(
    release: Callable[..., object], attestation_fixtures: Path
) -> None:
    result = release("verify", attestation_fixtures / SIGSTORE, *SIGSTORE_POLICY, "--staging")
    assert result.code == 1  # type: ignore[attr-defined]
    assert result.out == (  # type: ignore[attr-defined]
        f"FAIL {SIGSTORE}: signed on Sigstore's production instance, not staging; drop --staging\n"
    )


def test_key_signed_evidence_without_key_names_the_flag(
    release: Callable[..., object], make_dist: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "dist"
    out.mkdir()
    dist = make_dist(out, "dask_kubernetes-2026.3.0-py3-none-any.whl")
    key = tmp_path / "release.key"
    assert release("keygen", key).code == 0  # type: ignore[attr-defined]
    attested = release("attest", out, "--key", key)
    assert attested.code == 0, attested.err  # type: ignore[attr-defined]
    assert Path(f"{dist}.intoto.jsonl").is_file()
    result = release("verify", dist)
    assert result.code == 1  # type: ignore[attr-defined]
    assert result.out == (  # type: ignore[attr-defined]
        f"FAIL {dist.name}: {dist.name}.intoto.jsonl beside it holds key-signed statements: "
        "pass --key PUB (the public key that `release keygen` wrote, e.g. release.key.pub) "
        "to verify them\n"
    )
    with_key = release("verify", dist, "--key", f"{key}.pub")
    assert with_key.code == 0, with_key.out  # type: ignore[attr-defined]


@pytest.mark.parametrize("option", ["--predicate-type", "--source-digest"])
def test_pins_are_checked_for_key_signed_evidence_too(
    release: Callable[..., object], make_dist: Callable[..., Path], tmp_path: Path, option: str
) -> None:
    out = tmp_path / "dist"
    out.mkdir()
    dist = make_dist(out, "dask_kubernetes-2026.3.0-py3-none-any.whl")
    key = tmp_path / "release.key"
    assert release("keygen", key).code == 0  # type: ignore[attr-defined]
    assert release("attest", out, "--key", key).code == 0  # type: ignore[attr-defined]
    value = "https://example.com/unknown/v1" if option == "--predicate-type" else "2" * 40
    result = release("verify", dist, "--key", f"{key}.pub", option, value)
    assert result.code == 1  # type: ignore[attr-defined]
    assert value in result.out  # type: ignore[attr-defined]
