"""The stand-in's certificate authorities: one kind for the emulator's HTTPS and the real plane.

Generated fresh for every start and never reused. The emulator makes one CA and one serving
certificate for its loopback address (`serving_context`). The real plane makes two CAs, as kubeadm
lays them out: one for etcd (only the API server holds a client certificate it accepts) and one
for Kubernetes (serving certificates for the API server, controller manager and scheduler; client
certificates whose subject is the identity RBAC sees), plus the service-account signing key pair.

Every file is written atomically (`common.files`): certificates 0644, private keys 0600 from their
first byte. The X.509 details are `common.certificates`', shared with the operator's Dask TLS.
"""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dask_kubernetes.common import certificates
from dask_kubernetes.common.files import write_atomically, write_private

#: A `dask kubernetes local` session may run for days: its certificates outlive it.
VALIDITY = datetime.timedelta(days=30)
SERVICE_IP = (
    "10.96.0.1"  # the first address of --service-cluster-ip-range: the `kubernetes` Service
)
API_SERVER_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path

    def read(self) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM), e.g. for a kubeconfig's client-certificate/key-data."""
        return self.cert.read_bytes(), self.key.read_bytes()


@dataclass
class Authority:
    """A CA that can issue leaf certificates into its directory."""

    directory: Path
    name: str
    key: certificates.PrivateKey
    certificate: x509.Certificate

    @property
    def cert_path(self) -> Path:
        return self.directory / f"{self.name}.crt"

    @classmethod
    def create(cls, directory: Path, name: str) -> Authority:
        """A new CA `dask-kubernetes-NAME`: NAME.key (0600) and NAME.crt in `directory`."""
        key = certificates.new_key()
        certificate = certificates.authority_certificate(key, f"dask-kubernetes-{name}", VALIDITY)
        authority = cls(directory, name, key, certificate)
        write_private(directory / f"{name}.key", certificates.pem_private_key(key))
        write_atomically(authority.cert_path, certificates.pem_certificate(certificate))
        return authority

    def issue(
        self,
        name: str,
        common_name: str,
        *,
        organizations: tuple[str, ...] = (),
        server_names: tuple[str, ...] = (),
        client: bool = False,
    ) -> Pair:
        """A leaf for serving `server_names` (DNS names or IPs) and/or for client authentication."""
        key = certificates.new_key()
        certificate = certificates.leaf_certificate(
            self.key,
            self.certificate,
            certificates.subject(common_name, organizations),
            key.public_key(),
            VALIDITY,
            client=client,
            server_names=server_names,
        )
        pair = Pair(self.directory / f"{name}.crt", self.directory / f"{name}.key")
        write_private(pair.key, certificates.pem_private_key(key))
        write_atomically(pair.cert, certificates.pem_certificate(certificate))
        return pair


def service_account_keys(directory: Path) -> Pair:
    """The RSA key pair the API server signs (and the controller manager mints) tokens with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pair = Pair(directory / "sa.pub", directory / "sa.key")
    write_private(pair.key, certificates.pem_private_key(key))
    write_atomically(pair.cert, public)
    return pair


def serving_context(directory: Path, host: str) -> tuple[ssl.SSLContext, Authority]:
    """HTTPS for the emulator on `host`: a new CA in `directory` (ca.crt, which the composer
    writes into kubeconfigs) and a server certificate for `host` and localhost."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    authority = Authority.create(directory, "ca")
    server = authority.issue("server", "kube-apiserver", server_names=("localhost", host))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server.cert, server.key)
    return context, authority
