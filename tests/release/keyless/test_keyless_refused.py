"""What a real release would meet, refused: bundles from the local Sigstore, tampered with.

Mocked boundary (and only it): GitHub Actions' OIDC issuer is ours. The bundles come from real
Fulcio, Rekor v2 and timestamp-authority servers; `release verify --trusted-root` checks them.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore._internal.timestamp import TimestampAuthorityClient
from sigstore.models import Bundle

from dask_kubernetes_release.localsigstore.build import find_built
from dask_kubernetes_release.localsigstore.instance import LocalSigstore
from dask_kubernetes_release.localsigstore.issuer import github_claims

WHEEL = "dask_kubernetes-2026.12.0-py3-none-any.whl"


def _lines(dist: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (dist / f"{WHEEL}.intoto.jsonl").read_text().splitlines()]


def _write(dist: Path, lines: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (dist / f"{WHEEL}.intoto.jsonl").write_text(text)


def _verify(release: Callable[..., Any], dist: Path, root: Path) -> str:
    """A failed check (exit 1, FAIL line with the reason)."""
    result = release("verify", dist / WHEEL, "--trusted-root", root)
    assert result.code == 1, result.out + result.err
    assert f"FAIL {WHEEL}" in result.out, result.out + result.err
    return str(result.out)


def _unusable(release: Callable[..., Any], dist: Path, root: Path) -> str:
    """Evidence that is not a valid Sigstore bundle at all: exit 2, one line naming it."""
    result = release("verify", dist / WHEEL, "--trusted-root", root)
    assert result.code == 2, result.out + result.err
    assert "OK " not in result.out
    assert "not a DSSE envelope or Sigstore bundle" in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    return str(result.err)


@pytest.fixture
def signed(
    sign: Callable[..., Path], release: Callable[..., Any], local_sigstore: LocalSigstore
) -> Path:
    """A wheel signed on the local Sigstore, checked to verify before it is tampered with."""
    dist = sign()
    result = release("verify", dist / WHEEL, "--trusted-root", local_sigstore.trusted_root_path)
    assert result.code == 0, result.out + result.err
    return dist


def test_a_signature_without_its_rekor_entry_is_refused(
    signed: Path, release: Callable[..., Any], local_sigstore: LocalSigstore
) -> None:
    lines = _lines(signed)
    for line in lines:
        line["verificationMaterial"]["tlogEntries"] = []
    _write(signed, lines)
    err = _unusable(release, signed, local_sigstore.trusted_root_path)
    assert "expected exactly one log entry" in err, err


def test_a_rekor_entry_for_another_signature_is_refused(
    signed: Path, release: Callable[..., Any], local_sigstore: LocalSigstore
) -> None:
    """Each entry is genuine and in the log, but records the other statement's signature."""
    lines = _lines(signed)
    first, second = (line["verificationMaterial"]["tlogEntries"] for line in lines[:2])
    lines[0]["verificationMaterial"]["tlogEntries"] = second
    lines[1]["verificationMaterial"]["tlogEntries"] = first
    _write(signed, lines)
    out = _verify(release, signed, local_sigstore.trusted_root_path)
    assert "transparency log entry is inconsistent" in out, out


def _other_root(proof: dict[str, Any]) -> None:
    """Another tree root, in the proof and in the checkpoint (whose signature it breaks)."""
    envelope = proof["checkpoint"]["envelope"].split("\n")
    envelope[2] = proof["rootHash"] = "A" * 43 + "="
    proof["checkpoint"]["envelope"] = "\n".join(envelope)


def _forged_checkpoint_signature(proof: dict[str, Any]) -> None:
    """The checkpoint as logged, with another signature under the log's key hint."""
    envelope = proof["checkpoint"]["envelope"].split("\n")
    name, signature = envelope[4].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(signature))
    raw[-1] ^= 1
    envelope[4] = f"{name} {base64.b64encode(bytes(raw)).decode()}"
    proof["checkpoint"]["envelope"] = "\n".join(envelope)


@pytest.mark.parametrize(
    ("alter", "reason"),
    [
        (_other_root, "inclusion proof contains invalid root hash"),
        (_forged_checkpoint_signature, "checkpoint: invalid signature"),
    ],
)
def test_an_altered_rekor_entry_is_refused(
    alter: Callable[[dict[str, Any]], None],
    reason: str,
    signed: Path,
    release: Callable[..., Any],
    local_sigstore: LocalSigstore,
) -> None:
    lines = _lines(signed)
    for line in lines:
        alter(line["verificationMaterial"]["tlogEntries"][0]["inclusionProof"])
    _write(signed, lines)
    out = _verify(release, signed, local_sigstore.trusted_root_path)
    assert "the transparency-log entry does not verify" in out, out
    assert reason in out, out


def test_a_certificate_from_another_fulcio_is_refused(
    local_sigstore: LocalSigstore,
    make_dist: Callable[..., Path],
    release: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Another instance (its own Fulcio root, CT log, Rekor and TSA), same claims: its bundle
    verifies against its own trusted root and is refused by ours."""
    built = find_built()
    assert built is not None  # local_sigstore started, so it is built
    make_dist(tmp_path, WHEEL, version="2026.12.0")
    other_instance = LocalSigstore(
        built, tmp_path / "other-instance", share_timestamps_with=local_sigstore
    )
    with other_instance as other:
        for name, value in other.job_env(github_claims()).items():
            monkeypatch.setenv(name, value)
        result = release(
            "attest", tmp_path, "--sigstore", "--trust-config", other.trust_config_path
        )
        assert result.code == 0, result.err
        theirs = release("verify", tmp_path / WHEEL, "--trusted-root", other.trusted_root_path)
        assert theirs.code == 0, theirs.out
    out = _verify(release, tmp_path, local_sigstore.trusted_root_path)
    assert "does not chain to Sigstore's root of trust" in out, out


def test_a_certificate_without_a_signed_time_is_refused(
    signed: Path, release: Callable[..., Any], local_sigstore: LocalSigstore
) -> None:
    """Fulcio's certificates live 10 minutes; a Rekor v2 entry has no integrated time, so the
    TSA's timestamp is the only proof the signature was made while the certificate was valid.
    Without it (an expired certificate presented with no log timestamp) the bundle is refused."""
    lines = _lines(signed)
    for line in lines:
        line["verificationMaterial"].pop("timestampVerificationData")
    _write(signed, lines)
    err = _unusable(release, signed, local_sigstore.trusted_root_path)
    assert "must contain an inclusion promise or signed timestamp" in err, err


def test_a_timestamp_of_another_signature_is_refused(
    signed: Path, release: Callable[..., Any], local_sigstore: LocalSigstore
) -> None:
    """The TSA's timestamp is genuine, but it stamps the other statement's signature."""
    lines = _lines(signed)
    first = lines[0]["verificationMaterial"]["timestampVerificationData"]
    second = lines[1]["verificationMaterial"]["timestampVerificationData"]
    lines[0]["verificationMaterial"]["timestampVerificationData"] = second
    lines[1]["verificationMaterial"]["timestampVerificationData"] = first
    _write(signed, lines)
    out = _verify(release, signed, local_sigstore.trusted_root_path)
    assert "not enough sources of verified time" in out, out


def test_a_bundle_signed_for_another_file_is_refused(
    signed: Path,
    release: Callable[..., Any],
    local_sigstore: LocalSigstore,
    make_dist: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """Valid signatures over statements naming another file's sha256, beside this one."""
    other = tmp_path / "other"
    other.mkdir()
    make_dist(other, WHEEL, version="2026.12.0", padding=4096)  # same name, other bytes
    shutil.copy(signed / f"{WHEEL}.intoto.jsonl", other / f"{WHEEL}.intoto.jsonl")
    out = _verify(release, other, local_sigstore.trusted_root_path)
    assert "the file's sha256 differs from the attested one" in out, out


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding, what a DSSE signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@pytest.mark.parametrize("expired_minutes_ago", [10, -5])
def test_an_expired_certificate_is_refused_even_with_a_genuine_timestamp(
    expired_minutes_ago: int,
    signed: Path,
    release: Callable[..., Any],
    local_sigstore: LocalSigstore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whoever holds the key of a certificate that has expired signs the statement again and gets
    a genuine timestamp for that signature: the signed time lies after the certificate's
    validity, so its chain does not hold then. The certificate is a Fulcio certificate's twin
    (same extensions) issued by the instance's Fulcio root key and expired ten minutes ago, as
    one of Fulcio's ten-minute certificates is twenty minutes on (waiting for that is no test).
    The control, the same twin still in its validity window, is refused for another reason
    (it has no SCT), so the expiry is what the first refusal is about."""
    keys = local_sigstore.directory / "keys"
    root = x509.load_pem_x509_certificate((keys / "fulcio-root.pem").read_bytes())
    root_key = serialization.load_pem_private_key((keys / "fulcio-root.key").read_bytes(), None)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    lines = _lines(signed)
    line = lines[1]
    real = Bundle.from_json(json.dumps(line)).signing_certificate
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=10 + expired_minutes_ago))
        .not_valid_after(now - timedelta(minutes=expired_minutes_ago))
    )
    for extension in real.extensions:
        value: x509.ExtensionType = extension.value
        if isinstance(value, x509.PrecertificateSignedCertificateTimestamps):
            continue
        if isinstance(value, x509.SubjectKeyIdentifier):
            value = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        builder = builder.add_extension(value, extension.critical)
    expired = builder.sign(root_key, hashes.SHA384())

    envelope = line["dsseEnvelope"]
    signature = key.sign(
        _pae(envelope["payloadType"], base64.b64decode(envelope["payload"])),
        ec.ECDSA(hashes.SHA256()),
    )
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(local_sigstore.tls_ca_path))
    trust = json.loads(local_sigstore.trust_config_path.read_text())
    tsa = TimestampAuthorityClient(trust["signingConfig"]["tsaUrls"][0]["url"])
    stamp = tsa.request_timestamp(signature).as_bytes()
    envelope["signatures"][0]["sig"] = base64.b64encode(signature).decode()
    material = line["verificationMaterial"]
    material["certificate"]["rawBytes"] = base64.b64encode(
        expired.public_bytes(serialization.Encoding.DER)
    ).decode()
    material["timestampVerificationData"] = {
        "rfc3161Timestamps": [{"signedTimestamp": base64.b64encode(stamp).decode()}]
    }
    _write(signed, [line])
    out = _verify(release, signed, local_sigstore.trusted_root_path)
    if expired_minutes_ago > 0:
        assert "does not chain to Sigstore's root of trust" in out, out
        assert "cert is not valid at validation time" in out, out
    else:  # the control: the same forgery, in its validity window, fails later (no SCT)
        assert "not valid at validation time" not in out, out
        assert "SCT" in out, out
