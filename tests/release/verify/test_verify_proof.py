"""Every policy field is proven from signed evidence, or the verdict is FAIL with the reason.

Attacks on `release verify`: an environment that no signature shows (a bare attestation, a
forged publisher record in a provenance object), repository and owner IDs (Fulcio extensions
.15 and .17) on the real PyPI fixtures, the trigger our release signs on, key-signed statements
that claim another host, workflow path, runner or trigger, and a wheel renamed with a build tag.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dask_kubernetes_release.verify.policy import PROJECT_POLICY, load_policy_file

ROOT = Path(__file__).resolve().parents[3]
SIGSTORE = "sigstore-3.6.1.tar.gz"
PYPI_ATT = "pypi_attestations-0.0.19.tar.gz"
RFC8785 = "rfc8785-0.1.2-py3-none-any.whl"
GITLAB = "gitlab_oidc_project-0.0.3.tar.gz"
TOB_POLICY = ("--repository", "trailofbits/pypi-attestations", "--workflow", "release.yml")
SIGSTORE_POLICY = ("--repository", "sigstore/sigstore-python", "--workflow", "release.yml")
FULCIO = "signed: Fulcio certificate"
UNSIGNED_RECORD = "unsigned: provenance publisher record"


def _forge_environment(provenance: Path, environment: str) -> None:
    """Edit PyPI's publisher record: it is not signed, so every signature still verifies."""
    doc = json.loads(provenance.read_text())
    for group in doc["attestation_bundles"]:
        group["publisher"]["environment"] = environment
    provenance.write_text(json.dumps(doc))


def _facts(report: dict[str, Any]) -> dict[str, tuple[object, str]]:
    return {fact["name"]: (fact["value"], fact["source"]) for fact in report["facts"]}


# ---- environment: not in the certificate ----------------------------------------------------


def test_environment_cannot_pass_on_a_bare_attestation(
    release: Callable[..., Any], fixture_copy: Callable[..., Path]
) -> None:
    """A bare .publish.attestation carries no environment at all: the policy cannot hold."""
    dist = fixture_copy(PYPI_ATT, f"{PYPI_ATT}.publish.attestation") / PYPI_ATT
    ours = release("verify", dist, *TOB_POLICY, "--environment", "pypi")
    assert ours.code == 1, ours.out + ours.err
    assert ours.out.startswith(f"FAIL {PYPI_ATT}: ")
    assert "environment pypi" in ours.out
    assert "no signature shows" in ours.out
    # Trusting the index's record does not help when there is no record.
    trusting = release("verify", dist, *TOB_POLICY, "--environment", "pypi",
                       "--trust-index-publisher")  # fmt: skip
    assert trusting.code == 1
    assert "no publisher record" in trusting.out


def test_forged_publisher_record_is_refused_unless_trusted(
    release: Callable[..., Any], fixture_copy: Callable[..., Path]
) -> None:
    where = fixture_copy(SIGSTORE, f"{SIGSTORE}.provenance")
    _forge_environment(where / f"{SIGSTORE}.provenance", "pypi")
    ours = release("verify", where / SIGSTORE, *SIGSTORE_POLICY, "--environment", "pypi")
    assert ours.code == 1, ours.out + ours.err
    assert "no signature shows" in ours.out
    assert "--trust-index-publisher" in ours.out
    # The user opts in, naming what they trust: the record passes, and is labelled unsigned.
    trusted = release("verify", where / SIGSTORE, *SIGSTORE_POLICY, "--environment", "pypi",
                      "--trust-index-publisher")  # fmt: skip
    assert trusted.code == 0, trusted.out + trusted.err
    assert f"    environment: pypi  ({UNSIGNED_RECORD})" in trusted.out.splitlines()
    assert f"    repository: sigstore/sigstore-python  ({FULCIO})" in trusted.out.splitlines()
    as_json = release("verify", where / SIGSTORE, *SIGSTORE_POLICY, "--environment", "pypi",
                      "--trust-index-publisher", "--json")  # fmt: skip
    [report] = json.loads(as_json.out)["files"]
    facts = _facts(report)
    assert facts["environment"] == ("pypi", UNSIGNED_RECORD)
    assert facts["repository"] == ("sigstore/sigstore-python", FULCIO)
    assert report["provenance"]["environment"] == "pypi"


def test_trusted_record_must_still_match(
    release: Callable[..., Any], attestation_fixtures: Path
) -> None:
    """sigstore's real record names no environment: trusting it cannot make `pypi` pass."""
    ours = release(
        "verify", attestation_fixtures / SIGSTORE, "--provenance",
        attestation_fixtures / f"{SIGSTORE}.provenance", *SIGSTORE_POLICY,
        "--environment", "pypi", "--trust-index-publisher",
    )  # fmt: skip
    assert ours.code == 1
    assert "publisher record names environment (none), the policy expects pypi" in ours.out


def test_every_fact_is_listed_with_its_source(
    release: Callable[..., Any], attestation_fixtures: Path
) -> None:
    ours = release(
        "verify", attestation_fixtures / SIGSTORE, "--provenance",
        attestation_fixtures / f"{SIGSTORE}.provenance", *SIGSTORE_POLICY, "--json",
    )  # fmt: skip
    assert ours.code == 0, ours.out + ours.err
    [report] = json.loads(ours.out)["files"]
    facts = _facts(report)
    assert facts["ref"] == ("refs/tags/v3.6.1", FULCIO)
    assert facts["trigger_event"] == ("release", FULCIO)
    assert facts["repository_id"] == ("447691086", FULCIO)
    assert facts["log_index"] == (156716889, "signed: Rekor transparency log")
    assert "environment" not in facts  # not trusted, so not reported as a fact
    assert all(source.startswith("signed: ") for _, source in facts.values())
    text = release(
        "verify", attestation_fixtures / SIGSTORE, "--provenance",
        attestation_fixtures / f"{SIGSTORE}.provenance", *SIGSTORE_POLICY,
    )  # fmt: skip
    lines = text.out.splitlines()
    assert lines[0].startswith(f"OK {SIGSTORE}  sigstore/sigstore-python release.yml@")
    assert f"    trigger_event: release  ({FULCIO})" in lines


# ---- repository and owner IDs (Fulcio extensions .15 and .17) -------------------------------

IDS = {
    SIGSTORE: (("--provenance", f"{SIGSTORE}.provenance", *SIGSTORE_POLICY), "447691086",
               "71096353"),
    PYPI_ATT: (("--attestation", f"{PYPI_ATT}.publish.attestation", *TOB_POLICY), "772247423",
               "2314423"),
    GITLAB: (("--attestation", f"{GITLAB}.publish.attestation", "--repository",
              "https://gitlab.com/facutuesca/gitlab-oidc-project", "--workflow", ".gitlab-ci.yml"),
             "55235664", "12885801"),
}  # fmt: skip


@pytest.mark.parametrize("dist", list(IDS))
def test_repository_and_owner_ids_are_pinned(
    release: Callable[..., Any], attestation_fixtures: Path, dist: str
) -> None:
    options, repository_id, owner_id = IDS[dist]
    argv = [attestation_fixtures / o if o.startswith(dist) else o for o in options]
    path = attestation_fixtures / dist
    good = release("verify", path, *argv, "--repository-id", repository_id, "--owner-id", owner_id)
    assert good.code == 0, good.out + good.err
    wrong_repo = release("verify", path, *argv, "--repository-id", "1", "--owner-id", owner_id)
    assert wrong_repo.code == 1
    assert f"the repository ID is {repository_id}, the policy expects 1" in wrong_repo.out
    wrong_owner = release("verify", path, *argv, "--owner-id", str(int(owner_id) + 1))
    assert wrong_owner.code == 1
    assert f"the owner ID is {owner_id}, the policy expects {int(owner_id) + 1}" in wrong_owner.out


def test_ids_in_a_policy_file(
    release: Callable[..., Any], attestation_fixtures: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        '[publisher]\nrepository = "sigstore/sigstore-python"\nworkflow = "release.yml"\n'
        'repository_id = 447691086\nowner_id = "71096352"\n'
    )
    ours = release("verify", attestation_fixtures / SIGSTORE, "--provenance",
                   attestation_fixtures / f"{SIGSTORE}.provenance", "--policy", policy)  # fmt: skip
    assert ours.code == 1, ours.out + ours.err
    assert "the owner ID is 71096353, the policy expects 71096352" in ours.out


# ---- trigger: our release signs on a tag push -----------------------------------------------


def test_project_policy_names_the_trigger_release_yml_signs_on() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert "tags" in triggers["push"]
    _, policy = load_policy_file(PROJECT_POLICY)
    assert policy.trigger == "push"
    assert policy.ref == "refs/tags/*"


def test_sigstore_trigger_mismatch(release: Callable[..., Any], attestation_fixtures: Path) -> None:
    """No fixture was signed on workflow_dispatch (they say release, release, push): use one."""
    ours = release("verify", attestation_fixtures / PYPI_ATT, "--attestation",
                   attestation_fixtures / f"{PYPI_ATT}.publish.attestation", *TOB_POLICY,
                   "--trigger", "workflow_dispatch")  # fmt: skip
    assert ours.code == 1
    assert "the trigger event is release, the policy expects workflow_dispatch" in ours.out


# ---- key-signed statements: every field checked, or refused ---------------------------------

GITHUB_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "dask/dask-kubernetes",
    "GITHUB_REPOSITORY_ID": "123456",
    "GITHUB_REPOSITORY_OWNER_ID": "654321",
    "GITHUB_REF": "refs/tags/2026.11.0",
    "GITHUB_WORKFLOW_REF": "dask/dask-kubernetes/.github/workflows/release.yml@refs/tags/2026.11.0",
    "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    "GITHUB_RUN_ID": "987654321",
    "GITHUB_EVENT_NAME": "push",
    "RUNNER_ENVIRONMENT": "github-hosted",
}


@pytest.fixture
def key_attested(
    release: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[Path, Path]]:
    """Attest a small sdist with `release attest --key`, as a CI run with `env` changes says."""

    def attest(**changes: str) -> tuple[Path, Path]:
        where = tmp_path / "dist"
        where.mkdir()
        dist = where / "dask_kubernetes-2026.11.0.tar.gz"
        dist.write_bytes(b"not a real sdist; only its sha256 matters here")
        key = tmp_path / "release.key"
        assert release("keygen", key).code == 0
        for name, value in {**GITHUB_ENV, **changes}.items():
            monkeypatch.setenv(name, value)
        attested = release("attest", where, "--key", key)
        assert attested.code == 0, attested.err
        return dist, Path(f"{key}.pub")

    return attest


KEY_POLICY = ("--repository", "dask/dask-kubernetes", "--workflow", "release.yml")
KEY_ATTACKS = {
    "workflow_dispatch": (
        {"GITHUB_EVENT_NAME": "workflow_dispatch"},
        ("--policy", PROJECT_POLICY),
        "the trigger event is workflow_dispatch, the policy expects push",
    ),
    "another host": (
        {"GITHUB_SERVER_URL": "https://github.example"},
        KEY_POLICY,
        "the repository is https://github.example/dask/dask-kubernetes, the policy expects "
        "https://github.com/dask/dask-kubernetes",
    ),
    "workflow elsewhere": (
        {"GITHUB_WORKFLOW_REF": "dask/dask-kubernetes/tools/release.yml@refs/tags/2026.11.0"},
        KEY_POLICY,
        "signed by workflow tools/release.yml, the policy expects release.yml",
    ),
    "reusable workflow of another repository": (
        {"GITHUB_WORKFLOW_REF": "evil/x/.github/workflows/release.yml@refs/heads/main"},
        KEY_POLICY,
        "signed by workflow evil/x/.github/workflows/release.yml, the policy expects release.yml",
    ),
    "self-hosted runner": (
        {"RUNNER_ENVIRONMENT": "self-hosted"},
        ("--policy", PROJECT_POLICY),
        "the runner is self-hosted, the policy expects github-hosted",
    ),
    "branch": (
        {"GITHUB_REF": "refs/heads/main"},
        ("--policy", PROJECT_POLICY),
        "the git ref is refs/heads/main, the policy expects refs/tags/*",
    ),
    "repository id": (
        {},
        (*KEY_POLICY, "--repository-id", "999"),
        "the repository ID is 123456, the policy expects 999",
    ),
    "owner id": (
        {},
        (*KEY_POLICY, "--owner-id", "999"),
        "the owner ID is 654321, the policy expects 999",
    ),
    "environment": (
        {},
        (*KEY_POLICY, "--environment", "pypi", "--trust-index-publisher"),
        "cannot check environment pypi: key-signed statements do not carry it",
    ),
}


def test_key_signed_release_passes_the_project_policy(
    release: Callable[..., Any], key_attested: Callable[..., tuple[Path, Path]]
) -> None:
    dist, pub = key_attested()
    ours = release("verify", dist, "--key", pub, "--policy", PROJECT_POLICY, "--json")
    assert ours.code == 0, ours.out + ours.err
    [report] = json.loads(ours.out)["files"]
    facts = _facts(report)
    assert facts["trigger_event"] == ("push", "signed: in-toto statement")
    assert facts["repository_id"] == ("123456", "signed: in-toto statement")
    ids = release("verify", dist, "--key", pub, *KEY_POLICY, "--repository-id", "123456",
                  "--owner-id", "654321")  # fmt: skip
    assert ids.code == 0, ids.out + ids.err


@pytest.mark.parametrize("attack", list(KEY_ATTACKS))
def test_key_signed_statement_checks_every_field(
    release: Callable[..., Any], key_attested: Callable[..., tuple[Path, Path]], attack: str
) -> None:
    changes, policy, reason = KEY_ATTACKS[attack]
    dist, pub = key_attested(**changes)
    ours = release("verify", dist, "--key", pub, *policy)
    assert ours.code == 1, ours.out + ours.err
    assert ours.out.startswith(f"FAIL {dist.name}: {reason}"), ours.out


def test_key_signed_statement_without_ids_refuses_an_id_policy(
    release: Callable[..., Any], key_attested: Callable[..., tuple[Path, Path]]
) -> None:
    dist, pub = key_attested(GITHUB_REPOSITORY_ID="", GITHUB_REPOSITORY_OWNER_ID="")
    ours = release("verify", dist, "--key", pub, *KEY_POLICY, "--repository-id", "123456")
    assert ours.code == 1
    assert "the repository ID is missing, the policy expects 123456" in ours.out


# ---- the same verdict as pypi-attestations: a build tag is part of a wheel's name ------------


def test_wheel_renamed_with_a_build_tag_is_refused(
    release: Callable[..., Any], reference: Callable[..., Any], attestation_fixtures: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    renamed = tmp_path / "rfc8785-0.1.2-1-py3-none-any.whl"
    shutil.copyfile(attestation_fixtures / RFC8785, renamed)
    shutil.copyfile(attestation_fixtures / f"{RFC8785}.publish.attestation",
                    tmp_path / f"{renamed.name}.publish.attestation")  # fmt: skip
    ref = reference("verify", "attestation", "--offline", "--staging", "--identity",
                    "william@yossarian.net", renamed)  # fmt: skip
    assert ref.code != 0, ref.out
    ours = release("verify", renamed, "--identity", "william@yossarian.net", "--staging")
    assert ours.code == 1, ours.out + ours.err
    assert ours.out.startswith(
        f"FAIL {renamed.name}: the attestation is for '{RFC8785}', not for this file"
    )
    assert "build tag" in ours.out
