"""The local instance's keys and certificates, made fresh for every start.

Two roots, never mixed: the TLS root that every loopback endpoint's server certificate chains
to (clients trust it through REQUESTS_CA_BUNDLE / SSL_CERT_FILE), and the Fulcio root that signs
the code-signing certificates (trusted only through the instance's trusted_root.json). The CT
log, Rekor and the OIDC issuer get signing keys of their own.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dask_kubernetes_release.core import clock
from dask_kubernetes_release.core.files import PRIVATE, write_atomically

LOOPBACK = "127.0.0.1"
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_der(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


_CA_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dask-kubernetes local sigstore"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def self_signed_ca(
    common_name: str, *, code_signing: bool = False
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A root CA (P-384), valid from an hour ago for a day."""
    key = ec.generate_private_key(ec.SECP384R1())
    now = clock.utcnow()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if code_signing:  # Fulcio checks its chain for the code-signing usage
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        )
    return key, builder.sign(key, hashes.SHA384())


def server_certificate(
    ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, names: list[str]
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A TLS server certificate for loopback (and any extra DNS names), signed by `ca`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = clock.utcnow()
    alt: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
    alt += [x509.DNSName(name) for name in ["localhost", *names]]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0] if names else "localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


@dataclass(frozen=True)
class Keys:
    """Everything the instance's servers and our issuer sign with, written under `directory`."""

    directory: Path
    tls_ca: x509.Certificate
    tls_ca_key: ec.EllipticCurvePrivateKey
    fulcio_root: x509.Certificate
    ct_key: ec.EllipticCurvePrivateKey
    rekor_key: ed25519.Ed25519PrivateKey
    issuer_key: rsa.RSAPrivateKey

    @classmethod
    def create(cls, directory: Path) -> Keys:
        directory.mkdir(parents=True, exist_ok=True)
        tls_ca_key, tls_ca = self_signed_ca("local sigstore TLS root")
        fulcio_key, fulcio_root = self_signed_ca("local fulcio root", code_signing=True)
        ct_key = ec.generate_private_key(ec.SECP256R1())
        rekor_key = ed25519.Ed25519PrivateKey.generate()
        issuer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write_atomically(directory / "tls-ca.pem", cert_pem(tls_ca))
        write_atomically(directory / "fulcio-root.pem", cert_pem(fulcio_root))
        write_atomically(directory / "fulcio-root.key", private_pem(fulcio_key), mode=PRIVATE)
        write_atomically(directory / "ct.key", ct_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ), mode=PRIVATE)  # fmt: skip
        write_atomically(directory / "ct.pub", public_pem(ct_key))
        write_atomically(directory / "rekor.key", private_pem(rekor_key), mode=PRIVATE)
        return cls(directory, tls_ca, tls_ca_key, fulcio_root, ct_key, rekor_key, issuer_key)

    @property
    def tls_ca_path(self) -> Path:
        return self.directory / "tls-ca.pem"

    def server_files(self, name: str, dns_names: list[str] | None = None) -> tuple[Path, Path]:
        """(certificate, key) PEM files for a TLS endpoint called `name`."""
        key, cert = server_certificate(self.tls_ca_key, self.tls_ca, dns_names or [])
        cert_path, key_path = self.directory / f"tls-{name}.crt", self.directory / f"tls-{name}.key"
        write_atomically(cert_path, cert_pem(cert) + cert_pem(self.tls_ca))
        write_atomically(key_path, private_pem(key), mode=PRIVATE)
        return cert_path, key_path
