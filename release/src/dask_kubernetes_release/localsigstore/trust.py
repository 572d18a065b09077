"""The local instance as sigstore-python sees it: a trusted root and a signing config.

`trusted_root.json` is what `release verify --trusted-root` takes; `trust_config.json` (the
trusted root plus the signing config: where Fulcio, Rekor v2 and the timestamp authority are) is
what `release attest --sigstore --trust-config` and `sigstore --trust-config` take. The shapes are
those of Sigstore's public instances (sigstore-python ships them in sigstore/_store/).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from dask_kubernetes_release.core import clock

TRUSTED_ROOT_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
SIGNING_CONFIG_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
CLIENT_TRUST_CONFIG_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
OPERATOR = "dask-kubernetes local sigstore"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _spki(key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def rekor_log_id(origin: str, key: ed25519.Ed25519PublicKey) -> bytes:
    """Rekor v2's log ID for an Ed25519 key: the C2SP signed-note key hash (type byte 0x01)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(origin.encode() + b"\n" + b"\x01" + raw).digest()


def _subject(cert: x509.Certificate) -> dict[str, str]:
    def first(oid: x509.ObjectIdentifier) -> str:
        values = cert.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else ""

    return {
        "organization": first(NameOID.ORGANIZATION_NAME),
        "commonName": first(NameOID.COMMON_NAME),
    }


def _chain(certs: list[x509.Certificate]) -> dict[str, Any]:
    ders = [cert.public_bytes(serialization.Encoding.DER) for cert in certs]
    return {"certificates": [{"rawBytes": _b64(der)} for der in ders]}


@dataclass(frozen=True)
class Endpoints:
    fulcio: str
    rekor: str
    rekor_origin: str
    ct: str
    tsa: str


def trusted_root(
    endpoints: Endpoints,
    *,
    fulcio_root: x509.Certificate,
    ct_key: ec.EllipticCurvePublicKey,
    rekor_key: ed25519.Ed25519PublicKey,
    tsa_chain: list[x509.Certificate],
) -> dict[str, Any]:
    start = {"start": clock.rfc3339(fulcio_root.not_valid_before_utc)}
    return {
        "mediaType": TRUSTED_ROOT_TYPE,
        "tlogs": [
            {
                "baseUrl": endpoints.rekor,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": _b64(_spki(rekor_key)),
                    "keyDetails": "PKIX_ED25519",
                    "validFor": start,
                },
                "logId": {"keyId": _b64(rekor_log_id(endpoints.rekor_origin, rekor_key))},
            }
        ],
        "certificateAuthorities": [
            {
                "subject": _subject(fulcio_root),
                "uri": endpoints.fulcio,
                "certChain": _chain([fulcio_root]),
                "validFor": start,
            }
        ],
        "ctlogs": [
            {
                "baseUrl": endpoints.ct,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": _b64(_spki(ct_key)),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": start,
                },
                "logId": {"keyId": _b64(hashlib.sha256(_spki(ct_key)).digest())},
            }
        ],
        "timestampAuthorities": [
            {
                "subject": _subject(tsa_chain[-1]),
                "uri": endpoints.tsa,
                "certChain": _chain(tsa_chain),
                "validFor": {"start": clock.rfc3339(tsa_chain[-1].not_valid_before_utc)},
            }
        ],
    }


def signing_config(endpoints: Endpoints, since: str) -> dict[str, Any]:
    def service(url: str, version: int) -> dict[str, Any]:
        return {
            "url": url,
            "majorApiVersion": version,
            "validFor": {"start": since},
            "operator": OPERATOR,
        }

    return {
        "mediaType": SIGNING_CONFIG_TYPE,
        "caUrls": [service(endpoints.fulcio, 1)],
        "oidcUrls": [],
        "rekorTlogUrls": [service(endpoints.rekor, 2)],
        "tsaUrls": [service(endpoints.tsa, 1)],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaConfig": {"selector": "ANY"},
    }


def client_trust_config(root: dict[str, Any], signing: dict[str, Any]) -> dict[str, Any]:
    return {"mediaType": CLIENT_TRUST_CONFIG_TYPE, "trustedRoot": root, "signingConfig": signing}
