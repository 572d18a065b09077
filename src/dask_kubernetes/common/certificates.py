"""X.509 building blocks, made once: an EC key, a CA certificate, a leaf signed by it, PEM.

Two jobs use them and must not depend on each other: the operator's per-DaskCluster mutual TLS
(`operator/dask_tls.py`, in memory, the CA's key forgotten) and the stand-in's certificate
authorities (`local/credentials/pki.py`, files on disk). What a certificate says (which
extensions, how long it lives, how clock skew is absorbed) is decided here for both.
"""

from __future__ import annotations

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dask_kubernetes.common import clock

PrivateKey = ec.EllipticCurvePrivateKey
#: Certificates start this long before now, so a peer whose clock is a little behind accepts them.
BACKDATE = datetime.timedelta(minutes=5)


def new_key() -> PrivateKey:
    """A fresh P-256 key (what kubeadm and distributed both accept)."""
    return ec.generate_private_key(ec.SECP256R1())


def subject(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    """O=... (the groups Kubernetes' authenticator reads), then CN (the user)."""
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _builder(
    name: x509.Name,
    issuer: x509.Name,
    public_key: CertificatePublicKeyTypes,
    validity: datetime.timedelta,
) -> x509.CertificateBuilder:
    now = clock.utcnow()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + validity)
    )


def authority_certificate(
    key: PrivateKey, common_name: str, validity: datetime.timedelta
) -> x509.Certificate:
    """A self-signed CA that may sign leaves only (path length 0)."""
    name = subject(common_name)
    return (
        _builder(name, name, key.public_key(), validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def leaf_certificate(
    authority_key: PrivateKey,
    authority: x509.Certificate,
    name: x509.Name,
    public_key: CertificatePublicKeyTypes,
    validity: datetime.timedelta,
    *,
    server: bool = False,
    client: bool = False,
    server_names: tuple[str, ...] = (),
) -> x509.Certificate:
    """A leaf signed by `authority` for serving (`server`, or any `server_names`: DNS names or
    IP addresses) and/or client authentication (`client`)."""
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server or server_names else []) + (
        [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    )
    builder = (
        _builder(name, authority.subject, public_key, validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        # RFC 5280's key identifiers: Python 3.13's default context (VERIFY_X509_STRICT), e.g.
        # the operator image's, refuses a chain whose leaf lacks the Authority Key Identifier.
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if server_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in server_names]), critical=False
        )
    return builder.sign(authority_key, hashes.SHA256())


def pem_certificate(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def pem_private_key(key: PrivateKeyTypes) -> bytes:
    """PKCS#8, unencrypted: the holder's file mode (or Secret) is what protects it."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
