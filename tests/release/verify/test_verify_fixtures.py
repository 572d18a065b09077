"""Real PyPI attestations verify offline, and every tampered variant is refused.

Each case runs our `release verify` and the reference tool (`pypi-attestations verify`) on the
same input and expects the same verdict; ours must also say why in plain words.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pypi_attestations import Attestation, Provenance

SIGSTORE = "sigstore-3.6.1.tar.gz"
PYPI_ATT = "pypi_attestations-0.0.19.tar.gz"
RFC8785 = "rfc8785-0.1.2-py3-none-any.whl"
GITLAB = "gitlab_oidc_project-0.0.3.tar.gz"
TOB_IDENTITY = "https://github.com/trailofbits/pypi-attestations/.github/workflows/release.yml@refs/tags/v0.0.19"
GITLAB_IDENTITY = (
    "https://gitlab.com/facutuesca/gitlab-oidc-project//.gitlab-ci.yml@refs/heads/main"
)
TOB_POLICY = ("--repository", "trailofbits/pypi-attestations", "--workflow", "release.yml")


def _verdicts(out: str) -> list[str]:
    """The verdict lines, without the indented fact lines under each passing one."""
    return [line for line in out.splitlines() if not line.startswith(" ")]


def test_sigstore_provenance_verifies_like_reference(
    release: Callable[..., object], reference: Callable[..., object], attestation_fixtures: Path
) -> None:
    dist = attestation_fixtures / SIGSTORE
    provenance = attestation_fixtures / f"{SIGSTORE}.provenance"
    ours = release(
        "verify", dist, "--provenance", provenance,
        "--repository", "sigstore/sigstore-python", "--workflow", "release.yml",
        "--ref", "refs/tags/*",
    )  # fmt: skip
    assert ours.code == 0, ours.err
    assert _verdicts(ours.out) == [
        "OK sigstore-3.6.1.tar.gz  sigstore/sigstore-python "
        "release.yml@896cfe13105495e6dc6f8faf23e1007da35edeeb refs/tags/v3.6.1 "
        "(log index 156716889)"
    ]
    ref = reference(
        "verify", "pypi", "--offline", "--repository", "https://github.com/sigstore/sigstore-python",
        "--provenance-file", provenance, dist,
    )  # fmt: skip
    assert ref.code == 0, ref.err


def test_pypi_attestations_evidence_beside_the_file(
    release: Callable[..., object],
    reference: Callable[..., object],
    fixture_copy: Callable[..., Path],
) -> None:
    """The dist with .provenance, .publish.attestation and .slsa.attestation next to it."""
    where = fixture_copy(
        PYPI_ATT, f"{PYPI_ATT}.provenance", f"{PYPI_ATT}.publish.attestation",
        f"{PYPI_ATT}.slsa.attestation",
    )  # fmt: skip
    ours = release("verify", where / PYPI_ATT, *TOB_POLICY, "--json")
    assert ours.code == 0, ours.out + ours.err
    [report] = json.loads(ours.out)["files"]
    assert report["verdict"] == "OK"
    assert sorted(set(report["predicate_types"])) == [
        "https://docs.pypi.org/attestations/publish/v1",
        "https://slsa.dev/provenance/v1",
    ]
    assert report["provenance"] == {
        "owner": "https://github.com/trailofbits",
        "repository": "trailofbits/pypi-attestations",
        "repository_id": "772247423",
        "owner_id": "2314423",
        "repository_access": "public",
        "token_issuer": "https://token.actions.githubusercontent.com",
        "runner_environment": "github-hosted",
        "publication_workflow": "release.yml@08802efe1f8e5fec4ad842d6b8ce97656092ee72",
        "trigger_event": "release",
        "ref": "refs/tags/v0.0.19",
        "log_index": report["provenance"]["log_index"],
        "integrated_time": report["provenance"]["integrated_time"],
        "signer": TOB_IDENTITY,
        "environment": None,
    }
    assert isinstance(report["provenance"]["log_index"], int)
    ref = reference(
        "verify", "attestation", "--offline", "--identity", TOB_IDENTITY, where / PYPI_ATT
    )
    assert ref.code == 0, ref.err


def test_staging_email_identity(
    release: Callable[..., object], reference: Callable[..., object], attestation_fixtures: Path
) -> None:
    dist = attestation_fixtures / RFC8785
    att = attestation_fixtures / f"{RFC8785}.publish.attestation"
    ours = release(
        "verify", dist, "--attestation", att, "--identity", "william@yossarian.net", "--staging"
    )
    assert ours.code == 0, ours.out + ours.err
    assert ours.out.startswith(f"OK {RFC8785}  william@yossarian.net (log index 28175749)")
    ref = reference(
        "verify",
        "attestation",
        "--offline",
        "--staging",
        "--identity",
        "william@yossarian.net",
        dist,
    )
    assert ref.code == 0, ref.err
    # Without --staging the production roots do not vouch for it: both tools refuse.
    prod = release("verify", dist, "--attestation", att, "--identity", "william@yossarian.net")
    assert prod.code == 1
    # ... and ours says why, in the words a user needs: which instance signed it.
    assert prod.out == f"FAIL {RFC8785}: signed on Sigstore's staging instance; use --staging\n"


@pytest.mark.parametrize(
    "policy",
    [
        ("--repository", "https://gitlab.com/facutuesca/gitlab-oidc-project", "--workflow",
         ".gitlab-ci.yml", "--ref", "refs/heads/main"),
        ("--identity", GITLAB_IDENTITY, "--issuer", "https://gitlab.com"),
    ],
    ids=["publisher", "identity"],
)  # fmt: skip
def test_gitlab_publisher(
    release: Callable[..., object], attestation_fixtures: Path, policy: tuple[str, ...]
) -> None:
    ours = release("verify", attestation_fixtures / GITLAB, *policy)
    assert ours.code == 0, ours.out + ours.err
    assert "facutuesca/gitlab-oidc-project .gitlab-ci.yml@72f7c63b" in ours.out


def test_gitlab_reference_agrees(
    reference: Callable[..., object], attestation_fixtures: Path
) -> None:
    ref = reference(
        "verify", "attestation", "--offline", "--identity", GITLAB_IDENTITY,
        attestation_fixtures / GITLAB,
    )  # fmt: skip
    assert ref.code == 0, ref.err


# ---- refusals -------------------------------------------------------------------------------


def _edit_attestation(path: Path, edit: Callable[[dict[str, object]], None]) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def _edit_statement(doc: dict[str, object]) -> None:
    envelope = doc["envelope"]
    assert isinstance(envelope, dict)
    statement = json.loads(base64.b64decode(envelope["statement"]))
    statement["subject"][0]["name"] = "pypi_attestations-0.0.20.tar.gz"
    envelope["statement"] = base64.b64encode(json.dumps(statement).encode()).decode()


def _tob_setup(fixture_copy: Callable[..., Path]) -> Path:
    """pypi_attestations' dist with its publish attestation only (the reference's layout)."""
    return fixture_copy(PYPI_ATT, f"{PYPI_ATT}.publish.attestation") / PYPI_ATT


def test_refuses_other_repository(
    release: Callable[..., object], reference: Callable[..., object], attestation_fixtures: Path
) -> None:
    dist = attestation_fixtures / SIGSTORE
    prov = attestation_fixtures / f"{SIGSTORE}.provenance"
    ours = release(
        "verify", dist, "--provenance", prov,
        "--repository", "sigstore/other", "--workflow", "release.yml",
    )  # fmt: skip
    assert ours.code == 1
    assert ours.out.startswith(f"FAIL {SIGSTORE}: the repository is https://github.com/sigstore/")
    assert "the policy expects https://github.com/sigstore/other" in ours.out
    ref = reference(
        "verify", "pypi", "--offline", "--repository", "https://github.com/sigstore/other",
        "--provenance-file", prov, dist,
    )  # fmt: skip
    assert ref.code != 0


@pytest.mark.parametrize(
    ("ours_policy", "ref_identity", "reason"),
    [
        (("--workflow", "ci.yml"), TOB_IDENTITY.replace("release.yml", "ci.yml"), "workflow"),
        (("--workflow", "release.yml", "--ref", "refs/heads/*"),
         TOB_IDENTITY.replace("refs/tags/v0.0.19", "refs/heads/main"), "the git ref is"),
    ],
    ids=["workflow", "ref"],
)  # fmt: skip
def test_refuses_other_workflow_or_ref(
    release: Callable[..., object],
    reference: Callable[..., object],
    fixture_copy: Callable[..., Path],
    ours_policy: tuple[str, ...],
    ref_identity: str,
    reason: str,
) -> None:
    dist = _tob_setup(fixture_copy)
    ours = release("verify", dist, "--repository", "trailofbits/pypi-attestations", *ours_policy)
    assert ours.code == 1
    assert reason in ours.out
    assert (
        reference("verify", "attestation", "--offline", "--identity", ref_identity, dist).code != 0
    )


def _flip_one_byte(dist: Path) -> None:
    data = bytearray(dist.read_bytes())
    data[len(data) // 2] ^= 0x01
    dist.write_bytes(bytes(data))


def _swap_field(dist: Path, field: str) -> None:
    """Put the SLSA attestation's signature or certificate into the publish attestation."""
    slsa = json.loads((dist.parent / f"{PYPI_ATT}.slsa.attestation").read_text())
    publish = dist.parent / f"{PYPI_ATT}.publish.attestation"
    if field == "signature":
        _edit_attestation(
            publish, lambda d: d["envelope"].update(signature=slsa["envelope"]["signature"])
        )  # type: ignore[attr-defined]
    else:
        _edit_attestation(
            publish,
            lambda d: d["verification_material"].update(  # type: ignore[attr-defined]
                certificate=slsa["verification_material"]["certificate"]
            ),
        )
    (dist.parent / f"{PYPI_ATT}.slsa.attestation").unlink()


TAMPERINGS: dict[str, tuple[Callable[[Path], None], str]] = {
    "one byte of the file": (_flip_one_byte, "sha256 differs"),
    "subject edited": (
        lambda d: _edit_attestation(d.parent / f"{PYPI_ATT}.publish.attestation", _edit_statement),
        "signature does not match",
    ),
    "signature swapped": (lambda d: _swap_field(d, "signature"), "signature does not match"),
    "certificate swapped": (lambda d: _swap_field(d, "certificate"), "signature does not match"),
}


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_refuses_tampering(
    release: Callable[..., object],
    reference: Callable[..., object],
    fixture_copy: Callable[..., Path],
    name: str,
) -> None:
    dist = (
        fixture_copy(PYPI_ATT, f"{PYPI_ATT}.publish.attestation", f"{PYPI_ATT}.slsa.attestation")
        / PYPI_ATT
    )
    tamper, reason = TAMPERINGS[name]
    tamper(dist)
    ours = release("verify", dist, *TOB_POLICY)
    assert ours.code == 1, ours.out + ours.err
    assert ours.out.startswith(f"FAIL {PYPI_ATT}: ")
    assert reason in ours.out
    assert (
        reference("verify", "attestation", "--offline", "--identity", TOB_IDENTITY, dist).code != 0
    )


def test_refuses_evidence_of_another_file(
    release: Callable[..., object],
    reference: Callable[..., object],
    fixture_copy: Callable[..., Path],
) -> None:
    """pypi_attestations' valid attestation placed beside sigstore's sdist vouches for nothing."""
    where = fixture_copy(SIGSTORE, f"{PYPI_ATT}.publish.attestation")
    (where / f"{PYPI_ATT}.publish.attestation").rename(where / f"{SIGSTORE}.publish.attestation")
    ours = release("verify", where / SIGSTORE, *TOB_POLICY)
    assert ours.code == 1
    assert f"the attestation is for '{PYPI_ATT}', not for this file" in ours.out
    ref = reference(
        "verify", "attestation", "--offline", "--identity", TOB_IDENTITY, where / SIGSTORE
    )
    assert ref.code != 0


def test_many_files_one_call_each_judged_alone(
    release: Callable[..., object], fixture_copy: Callable[..., Path]
) -> None:
    """One call, two files: the good one passes, the tampered one fails, exit 1."""
    good = fixture_copy(PYPI_ATT, f"{PYPI_ATT}.publish.attestation", into="good") / PYPI_ATT
    bad = fixture_copy(PYPI_ATT, f"{PYPI_ATT}.publish.attestation", into="bad") / PYPI_ATT
    _flip_one_byte(bad)
    ours = release("verify", good, bad, *TOB_POLICY)
    assert ours.code == 1
    first, second = _verdicts(ours.out)
    assert first.startswith(f"OK {PYPI_ATT}  trailofbits/pypi-attestations release.yml@")
    assert second.startswith(f"FAIL {PYPI_ATT}: ")


def test_no_evidence_is_a_failure(
    release: Callable[..., object], fixture_copy: Callable[..., Path]
) -> None:
    dist = fixture_copy(SIGSTORE) / SIGSTORE
    ours = release(
        "verify", dist, "--repository", "sigstore/sigstore-python", "--workflow", "release.yml"
    )
    assert ours.code == 1
    assert "no attestation or provenance found" in ours.out


def test_sigstore_bundles_in_intoto_jsonl(
    release: Callable[..., object], fixture_copy: Callable[..., Path], attestation_fixtures: Path
) -> None:
    """`attest --sigstore` writes Sigstore bundles as JSON lines; real ones verify from there."""
    where = fixture_copy(PYPI_ATT)
    lines = [
        Attestation.model_validate_json(
            (attestation_fixtures / f"{PYPI_ATT}.{kind}.attestation").read_bytes()
        )
        .to_bundle()
        .to_json()
        .replace("\n", "")
        for kind in ("publish", "slsa")
    ]
    (where / f"{PYPI_ATT}.intoto.jsonl").write_text("\n".join(lines) + "\n")
    ours = release("verify", where / PYPI_ATT, *TOB_POLICY, "--json")
    assert ours.code == 0, ours.out + ours.err
    [report] = json.loads(ours.out)["files"]
    assert report["predicate_types"] == [
        "https://docs.pypi.org/attestations/publish/v1",
        "https://slsa.dev/provenance/v1",
    ]
    # Every line is checked: another file's (valid) bundle on the second line fails the file.
    other = Provenance.model_validate_json(
        (attestation_fixtures / f"{SIGSTORE}.provenance").read_bytes()
    )
    lines[1] = other.attestation_bundles[0].attestations[0].to_bundle().to_json().replace("\n", "")
    (where / f"{PYPI_ATT}.intoto.jsonl").write_text("\n".join(lines) + "\n")
    bad = release("verify", where / PYPI_ATT, *TOB_POLICY, "--json")
    assert bad.code == 1, bad.err
    [report] = json.loads(bad.out)["files"]
    assert report["verdict"] == "FAIL"
    assert report["reason"].startswith(
        "the repository is https://github.com/sigstore/sigstore-python"
    )
    assert report["provenance"] is None


def test_evidence_options_pair_with_files_in_order(
    release: Callable[..., object], fixture_copy: Callable[..., Path], attestation_fixtures: Path
) -> None:
    one = fixture_copy(PYPI_ATT, into="one") / PYPI_ATT
    two = fixture_copy(PYPI_ATT, into="two") / PYPI_ATT
    _flip_one_byte(two)
    prov = attestation_fixtures / f"{PYPI_ATT}.provenance"
    ours = release("verify", one, two, "--provenance", prov, "--provenance", prov, *TOB_POLICY)
    assert ours.code == 1
    assert [line.split()[0] for line in _verdicts(ours.out)] == ["OK", "FAIL"]
    uneven = release("verify", one, two, "--provenance", prov, *TOB_POLICY)
    assert uneven.code == 2
    assert "give it once per DIST" in uneven.err
