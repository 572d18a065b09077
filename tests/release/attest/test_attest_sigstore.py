"""`attest --sigstore` writes Sigstore bundles and a PEP 740 attestation PyPI accepts.

Mocked boundary (and only it): the ambient GitHub OIDC identity and Fulcio/Rekor signing are
out of reach offline, so `open_signer` yields a stand-in signer that signs DSSE with a fresh
key under a self-made certificate and reuses a real (unrelated) Rekor entry. Everything after
it is real: pypi-attestations' `Attestation.sign`, bundle serialisation, the written files,
and `release verify`, which must refuse the forged certificate.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pypi_attestations import Attestation
from sigstore import dsse
from sigstore.models import Bundle, TransparencyLogEntry
from sigstore_models.rekor.v1 import TransparencyLogEntry as _EntryMessage

import dask_kubernetes_release.attest.command as attest_module
from dask_kubernetes_release.core.digests import sha256_file
from dask_kubernetes_release.core.statements import SLSA_PROVENANCE

WORKFLOW = (
    "https://github.com/dask/dask-kubernetes/.github/workflows/release.yml@refs/tags/2026.11.0"
)


def _certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "stand-in, not Fulcio")])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(minutes=10))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(WORKFLOW)]), False
        )
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
        .sign(key, hashes.SHA256())
    )


class StandInSigner:
    """Signs like sigstore's `Signer.sign_dsse`, minus Fulcio and Rekor."""

    def __init__(self, log_entry: dict[str, object]) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = _certificate(self._key)
        self._entry = log_entry
        self.signed: list[dsse.Statement] = []

    def sign_dsse(self, statement: dsse.Statement) -> Bundle:
        self.signed.append(statement)
        envelope = dsse._sign(self._key, statement)
        entry = TransparencyLogEntry(_EntryMessage.from_dict(self._entry))
        return Bundle._from_parts(self._cert, envelope, entry)


@pytest.fixture
def stand_in(
    monkeypatch: pytest.MonkeyPatch, attestation_fixtures: Path
) -> Iterator[StandInSigner]:
    real = json.loads(
        (attestation_fixtures / "pypi_attestations-0.0.19.tar.gz.publish.attestation").read_text()
    )
    signer = StandInSigner(real["verification_material"]["transparency_entries"][0])

    @contextmanager
    def open_signer(*, staging: bool, config: Path | None = None) -> Iterator[StandInSigner]:
        yield signer

    monkeypatch.setattr(attest_module, "open_signer", open_signer)
    yield signer


def test_sigstore_outputs(
    release: Callable[..., object],
    stand_in: StandInSigner,
    fixture_copy: Callable[..., Path],
) -> None:
    name = "rfc8785-0.1.2-py3-none-any.whl"
    where = fixture_copy(name)
    result = release("attest", where, "--sigstore")
    assert result.code == 0, result.err  # type: ignore[attr-defined]
    assert len(stand_in.signed) == 2  # publish + SLSA, one signature each

    pep740 = Attestation.model_validate_json(
        Path(f"{where / name}.publish.attestation").read_bytes()
    )
    assert pep740.statement["subject"][0]["name"] == name
    assert pep740.statement["predicateType"] == "https://docs.pypi.org/attestations/publish/v1"
    # The signature inside really covers the statement, under the certificate's key.
    bundle = pep740.to_bundle()
    dsse._verify(bundle.signing_certificate.public_key(), bundle._dsse_envelope)  # type: ignore[arg-type]

    lines = Path(f"{where / name}.intoto.jsonl").read_text().splitlines()
    bundles = [Bundle.from_json(line) for line in lines]
    assert len(bundles) == 2
    slsa = json.loads(bundles[1]._dsse_envelope._inner.payload)  # type: ignore[union-attr]
    assert slsa["predicateType"] == SLSA_PROVENANCE
    assert slsa["subject"] == pep740.statement["subject"]

    # The stand-in certificate is not from Fulcio: verification must refuse it.
    verdict = release("verify", where / name, "--identity", WORKFLOW)
    assert verdict.code == 1  # type: ignore[attr-defined]
    assert "does not chain to Sigstore's root of trust" in verdict.out  # type: ignore[attr-defined]


def test_sigstore_without_ambient_identity_is_a_usage_error(
    release: Callable[..., object],
    fixture_copy: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "SIGSTORE_ID_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    where = fixture_copy("rfc8785-0.1.2-py3-none-any.whl")
    result = release("attest", where, "--sigstore")
    assert result.code == 2  # type: ignore[attr-defined]
    assert "ambient OIDC identity" in result.err  # type: ignore[attr-defined]
    assert list(where.iterdir()) == [where / "rfc8785-0.1.2-py3-none-any.whl"]


def test_sigstore_attests_the_chart_with_bundles_only(
    release: Callable[..., object],
    stand_in: StandInSigner,
    fixture_copy: Callable[..., Path],
) -> None:
    """The chart gets the publish and SLSA statements as Sigstore bundles (no PEP 740 file:
    pypi-attestations accepts only wheel/sdist names), and verify takes the Sigstore path."""
    where = fixture_copy("rfc8785-0.1.2-py3-none-any.whl")
    assert release("chart", where).code == 0  # type: ignore[attr-defined]
    chart = where / "dask-kubernetes-operator-0.1.2.tgz"
    result = release("attest", where, "--sigstore")
    assert result.code == 0, result.err  # type: ignore[attr-defined]
    assert len(stand_in.signed) == 4  # wheel and chart: publish + SLSA each
    assert not Path(f"{chart}.publish.attestation").exists()
    bundles = [
        Bundle.from_json(line) for line in Path(f"{chart}.intoto.jsonl").read_text().splitlines()
    ]
    statements = [json.loads(b._dsse_envelope._inner.payload) for b in bundles]  # type: ignore[union-attr]
    assert [s["subject"][0]["name"] for s in statements] == [chart.name] * 2
    assert statements[1]["predicateType"] == SLSA_PROVENANCE
    verdict = release("verify", chart, "--identity", WORKFLOW)
    assert verdict.code == 1  # type: ignore[attr-defined]
    assert "does not chain to Sigstore's root of trust" in verdict.out  # type: ignore[attr-defined]


def test_sigstore_attests_the_lock_files_with_bundles_only(
    release: Callable[..., object],
    stand_in: StandInSigner,
    fixture_copy: Callable[..., Path],
) -> None:
    """requirements.txt (here the manifest's, before any lock) gets a SLSA statement naming it
    as a Sigstore bundle, and `verify DIR` takes the Sigstore path for it too."""
    where = fixture_copy("rfc8785-0.1.2-py3-none-any.whl")
    assert release("manifest", where).code == 0  # type: ignore[attr-defined]
    result = release("attest", where, "--sigstore")
    assert result.code == 0, result.err  # type: ignore[attr-defined]
    assert len(stand_in.signed) == 3  # wheel: publish + SLSA; requirements.txt: SLSA
    lock = where / "requirements.txt"
    bundles = [
        Bundle.from_json(line) for line in Path(f"{lock}.intoto.jsonl").read_text().splitlines()
    ]
    statements = [json.loads(b._dsse_envelope._inner.payload) for b in bundles]  # type: ignore[union-attr]
    assert [s["subject"][0]["name"] for s in statements] == ["requirements.txt"]
    assert statements[0]["subject"][0]["digest"]["sha256"] == sha256_file(lock)
    assert statements[0]["predicateType"] == SLSA_PROVENANCE
    verdict = release("verify", where, "--identity", WORKFLOW)
    assert verdict.code == 1  # type: ignore[attr-defined]
    lines = verdict.out.splitlines()  # type: ignore[attr-defined]
    assert [line.split(":")[0] for line in lines] == [
        "FAIL requirements.txt",
        "FAIL rfc8785-0.1.2-py3-none-any.whl",
    ]
    assert all("does not chain to Sigstore's root of trust" in line for line in lines)
