"""`inspect` shows what evidence claims (and says it verified nothing); `verify --json` output
validates against the JSON Schema shipped with the package and carries the full facts."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

SIGSTORE = "sigstore-3.6.1.tar.gz"
PYPI_ATT = "pypi_attestations-0.0.19.tar.gz"
GITLAB = "gitlab_oidc_project-0.0.3.tar.gz"
RFC8785 = "rfc8785-0.1.2-py3-none-any.whl"  # signed on Sigstore's staging instance
SUGGESTION = "    a policy these claims match: verify FILE "
# The schema ships inside the package, where an installed verifier's users find it.
SCHEMA = resources.files("dask_kubernetes_release.verify") / "verify-report.schema.json"
SIGSTORE_POLICY = ("--repository", "sigstore/sigstore-python", "--workflow", "release.yml")
TOB_POLICY = ("--repository", "trailofbits/pypi-attestations", "--workflow", "release.yml")


def _validate(document: object) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(document)


def test_inspect_shows_the_claims_and_says_it_did_not_verify(
    release: Callable[..., object], attestation_fixtures: Path
) -> None:
    result = release("inspect", attestation_fixtures / f"{SIGSTORE}.provenance")
    assert result.code == 0, result.err  # type: ignore[attr-defined]
    out = result.out  # type: ignore[attr-defined]
    assert out.startswith("NOT VERIFIED: inspect shows what the evidence claims and checks nothing")
    for needle in (
        "predicate type: https://docs.pypi.org/attestations/publish/v1",
        "repository: sigstore/sigstore-python",
        "publication_workflow: release.yml@896cfe13105495e6dc6f8faf23e1007da35edeeb",
        "ref: refs/tags/v3.6.1",
        "source_commit: 896cfe13105495e6dc6f8faf23e1007da35edeeb",
        "trigger_event: release",
        "log_index: 156716889",
        "publisher record (unsigned): kind=GitHub, repository=sigstore/sigstore-python",
    ):
        assert needle in out, needle


def test_inspect_suggests_a_policy_that_verify_accepts(
    release: Callable[..., object], attestation_fixtures: Path
) -> None:
    dist = attestation_fixtures / PYPI_ATT
    result = release("inspect", dist, "--json")  # the evidence beside the file
    report = json.loads(result.out)  # type: ignore[attr-defined]
    assert report["verified"] is False
    assert "NOT VERIFIED" in report["notice"]
    [document] = report["inputs"]
    kinds = sorted(e["statement"]["predicate_type"] for e in document["evidence"])
    assert "https://slsa.dev/provenance/v1" in kinds
    options = document["evidence"][0]["policy_options"].split()
    verified = release("verify", dist, *options)
    assert verified.code == 0, verified.out  # type: ignore[attr-defined]


def test_inspect_of_staging_evidence_says_staging_and_its_suggestion_verifies(
    release: Callable[..., object], attestation_fixtures: Path
) -> None:
    """The verify line inspect prints is run as printed (FILE replaced): it must pass."""
    dist = attestation_fixtures / RFC8785
    shown = release("inspect", dist)
    assert shown.code == 0, shown.err  # type: ignore[attr-defined]
    lines = shown.out.splitlines()  # type: ignore[attr-defined]
    assert (
        "    signed on: Sigstore's staging instance (by its log entry): verify needs --staging"
        in lines
    )
    [suggestion] = [line for line in lines if line.startswith(SUGGESTION)]
    options = shlex.split(suggestion.removeprefix(SUGGESTION))
    assert "--staging" in options
    verified = release("verify", dist, *options)
    assert verified.code == 0, verified.out  # type: ignore[attr-defined]
    record = json.loads(release("inspect", dist, "--json").out)["inputs"][0]["evidence"][0]  # type: ignore[attr-defined]
    assert record["sigstore_instance"] == "staging"
    assert shlex.split(record["policy_options"]) == options


def test_inspect_of_production_evidence_suggests_no_staging(
    release: Callable[..., object], attestation_fixtures: Path
) -> None:
    dist = attestation_fixtures / SIGSTORE
    shown = release("inspect", dist)
    lines = shown.out.splitlines()  # type: ignore[attr-defined]
    assert "    signed on: Sigstore's production instance (by its log entry)" in lines
    [suggestion] = [line for line in lines if line.startswith(SUGGESTION)]
    options = shlex.split(suggestion.removeprefix(SUGGESTION))
    assert "--staging" not in options
    assert release("verify", dist, *options).code == 0  # type: ignore[attr-defined]


def test_inspect_does_not_verify_tampered_evidence(
    release: Callable[..., object], fixture_copy: Callable[..., Path]
) -> None:
    where = fixture_copy(GITLAB, f"{GITLAB}.publish.attestation")
    (where / GITLAB).write_bytes(b"changed")  # the file no longer matches: inspect must not care
    shown = release("inspect", where / GITLAB)
    assert shown.code == 0  # type: ignore[attr-defined]
    assert "facutuesca/gitlab-oidc-project" in shown.out  # type: ignore[attr-defined]
    verified = release(
        "verify", where / GITLAB, "--repository", "https://gitlab.com/facutuesca/gitlab-oidc-project",
        "--workflow", ".gitlab-ci.yml",
    )  # fmt: skip
    assert verified.code == 1  # type: ignore[attr-defined]


def test_inspect_refuses_garbage_in_one_line(
    release: Callable[..., object], tmp_path: Path
) -> None:
    bad = tmp_path / "x.provenance"
    bad.write_text("{}")
    result = release("inspect", bad)
    assert result.code == 2  # type: ignore[attr-defined]
    assert len(result.err.strip().splitlines()) == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "policy"),
    [(SIGSTORE, SIGSTORE_POLICY), (PYPI_ATT, TOB_POLICY)],
)
def test_verify_json_matches_its_schema_and_carries_the_full_facts(
    release: Callable[..., object], attestation_fixtures: Path, name: str, policy: tuple[str, ...]
) -> None:
    result = release("verify", attestation_fixtures / name, *policy, "--json")
    assert result.code == 0  # type: ignore[attr-defined]
    report = json.loads(result.out)  # type: ignore[attr-defined]
    _validate(report)
    assert report["schema_version"] == 2 and report["verified"] is True
    [entry] = report["files"]
    for record in entry["evidence"]:
        assert record["statement"]["subject"][0]["name"] == name
        assert record["certificate"]["extensions"]["source_repository_uri"]["value"].startswith(
            "https://github.com/"
        )
        assert record["transparency_log"]["log_index"] >= 0
        assert record["transparency_log"]["inclusion_proof"] is not None
        assert record["sources"]["statement"].startswith("signed: ")
        assert record["sources"]["publisher_record"].startswith("unsigned: ")
    sources = {fact["name"]: fact["source"] for fact in entry["facts"]}
    assert sources["repository"] == "signed: Fulcio certificate"
    assert sources["log_index"] == "signed: Rekor transparency log"


def test_verify_json_of_a_failure_and_of_key_evidence_match_the_schema(
    release: Callable[..., object],
    attestation_fixtures: Path,
    make_dist: Callable[..., Path],
    tmp_path: Path,
) -> None:
    failed = release("verify", attestation_fixtures / SIGSTORE, *TOB_POLICY, "--json")
    assert failed.code == 1  # type: ignore[attr-defined]
    report = json.loads(failed.out)  # type: ignore[attr-defined]
    _validate(report)
    assert report["verified"] is False and report["files"][0]["verdict"] == "FAIL"
    out = tmp_path / "dist"
    out.mkdir()
    dist = make_dist(out, "dask_kubernetes-2026.3.0-py3-none-any.whl")
    key = tmp_path / "release.key"
    assert release("keygen", key).code == 0  # type: ignore[attr-defined]
    assert release("attest", out, "--key", key).code == 0  # type: ignore[attr-defined]
    keyed = release("verify", dist, "--key", f"{key}.pub", "--json")
    assert keyed.code == 0, keyed.out  # type: ignore[attr-defined]
    keyed_report = json.loads(keyed.out)  # type: ignore[attr-defined]
    _validate(keyed_report)
    assert {e["kind"] for e in keyed_report["files"][0]["evidence"]} == {"key"}


def test_the_schema_rejects_a_report_it_does_not_describe() -> None:
    with pytest.raises(jsonschema.ValidationError):
        _validate({"schema_version": 1, "verified": True, "files": []})
    with pytest.raises(jsonschema.ValidationError):
        _validate({"schema_version": 2, "verified": True, "files": [{"file": "x"}]})


def test_inspect_reads_a_key_signed_intoto_bundle(
    release: Callable[..., object], make_dist: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "dist"
    out.mkdir()
    dist = make_dist(out, "dask_kubernetes-2026.3.0-py3-none-any.whl")
    key = tmp_path / "release.key"
    assert release("keygen", key).code == 0  # type: ignore[attr-defined]
    assert release("attest", out, "--key", key).code == 0  # type: ignore[attr-defined]
    shown = release("inspect", f"{dist}.intoto.jsonl", "--json")
    assert shown.code == 0, shown.err  # type: ignore[attr-defined]
    [document] = json.loads(shown.out)["inputs"]  # type: ignore[attr-defined]
    records = document["evidence"]
    assert {r["kind"] for r in records} == {"key"}
    assert sorted(r["statement"]["predicate_type"] for r in records) == [
        "https://docs.pypi.org/attestations/publish/v1",
        "https://slsa.dev/provenance/v1",
    ]
    slsa = next(r for r in records if r["claims"])
    key_id = records[0]["key_ids"][0]
    assert slsa["claims"]["signer"] == f"key {key_id}"
    assert slsa["policy_options"].startswith("--key PUB")
