"""Facts about who signed, read from a Fulcio certificate and its transparency-log entry.

Why: the verdict line and `--json` report what PyPI shows on a file page; those facts live
in the certificate's Sigstore extensions (OID 1.3.6.1.4.1.57264.1.*), already verified by the
time they are read here. Each fact is reported with its source, so a reader sees which facts
were proven by a signature and which were taken from an unsigned record.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat import asn1
from sigstore.models import Bundle

_SIGSTORE_OID = "1.3.6.1.4.1.57264.1."
ISSUER_V1 = x509.ObjectIdentifier(_SIGSTORE_OID + "1")
ISSUER = x509.ObjectIdentifier(_SIGSTORE_OID + "8")
RUNNER_ENVIRONMENT = x509.ObjectIdentifier(_SIGSTORE_OID + "11")
SOURCE_REPOSITORY_URI = x509.ObjectIdentifier(_SIGSTORE_OID + "12")
SOURCE_REPOSITORY_DIGEST = x509.ObjectIdentifier(_SIGSTORE_OID + "13")
SOURCE_REPOSITORY_REF = x509.ObjectIdentifier(_SIGSTORE_OID + "14")
SOURCE_REPOSITORY_ID = x509.ObjectIdentifier(_SIGSTORE_OID + "15")
SOURCE_REPOSITORY_OWNER_URI = x509.ObjectIdentifier(_SIGSTORE_OID + "16")
SOURCE_REPOSITORY_OWNER_ID = x509.ObjectIdentifier(_SIGSTORE_OID + "17")
BUILD_CONFIG_URI = x509.ObjectIdentifier(_SIGSTORE_OID + "18")
BUILD_CONFIG_DIGEST = x509.ObjectIdentifier(_SIGSTORE_OID + "19")
BUILD_TRIGGER = x509.ObjectIdentifier(_SIGSTORE_OID + "20")
SOURCE_REPOSITORY_VISIBILITY = x509.ObjectIdentifier(_SIGSTORE_OID + "22")
DEPLOYMENT_ENVIRONMENT = x509.ObjectIdentifier(_SIGSTORE_OID + "23")  # Fulcio 1.7+, when set

# Where a reported fact comes from.
FROM_CERTIFICATE = "signed: Fulcio certificate"
FROM_STATEMENT = "signed: in-toto statement"
FROM_LOG = "signed: Rekor transparency log"
FROM_KEY = "signed: the key given with --key"
FROM_PUBLISHER_RECORD = "unsigned: provenance publisher record"


def extension_text(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    """The text of one Sigstore extension, or None when the certificate lacks it."""
    try:
        extension = cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None
    raw = extension.value.public_bytes()
    if oid == ISSUER_V1:  # the legacy issuer extension is a raw string, not DER
        return raw.decode("utf-8", "replace")
    try:
        return asn1.decode_der(str, raw)
    except ValueError:
        return None


def subject_identities(cert: x509.Certificate) -> list[str]:
    """The certificate's SANs: an e-mail address or a workflow URI."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names: list[str] = list(san.get_values_for_type(x509.RFC822Name))
    names += san.get_values_for_type(x509.UniformResourceIdentifier)
    return names


def _split_build_config(uri: str, repository_uri: str) -> str:
    """`https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1` -> `release.yml`."""
    path = uri.split("@", 1)[0]
    if path.startswith(repository_uri + "/.github/workflows/"):
        return path.removeprefix(repository_uri + "/.github/workflows/")
    if path.startswith(repository_uri + "//"):  # GitLab: https://gitlab.com/o/r//.gitlab-ci.yml
        return path.removeprefix(repository_uri + "//")
    return path


@dataclass(frozen=True)
class SignerFacts:
    """What a verified signature says about where a file came from."""

    identity: str
    token_issuer: str | None
    repository: str | None  # owner/name
    repository_uri: str | None
    owner: str | None
    repository_id: str | None
    owner_id: str | None
    repository_access: str | None
    runner_environment: str | None
    workflow: str | None
    workflow_path: str | None  # in the repository, e.g. .github/workflows/release.yml
    commit: str | None
    ref: str | None
    trigger_event: str | None
    log_index: int | None = None
    integrated_time: int | None = None
    key_id: str | None = None
    source: str = FROM_CERTIFICATE  # of every fact above but the log's and the key's
    # The deployment environment: from the certificate (ext. .23) when every certificate of the
    # file carries it (environment_signed), else only from PyPI's unsigned publisher record.
    environment: str | None = None
    source_commit: str | None = None  # the source repository's commit (certificate ext. .13)
    environment_signed: bool = False

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> SignerFacts:
        cert = bundle.signing_certificate
        entry = bundle.log_entry._inner  # sigstore exposes no public accessor for these
        return cls.from_certificate(
            cert, log_index=entry.log_index, integrated_time=entry.integrated_time or None
        )

    @classmethod
    def from_certificate(
        cls, cert: x509.Certificate, *, log_index: int | None, integrated_time: int | None
    ) -> SignerFacts:
        repo_uri = extension_text(cert, SOURCE_REPOSITORY_URI)
        build_config = extension_text(cert, BUILD_CONFIG_URI)
        repository = repo_uri.split("://", 1)[-1].split("/", 1)[-1] if repo_uri else None
        identities = subject_identities(cert)
        workflow = _split_build_config(build_config, repo_uri or "") if build_config else None
        return cls(
            identity=identities[0] if identities else "(no identity)",
            token_issuer=extension_text(cert, ISSUER) or extension_text(cert, ISSUER_V1),
            repository=repository,
            repository_uri=repo_uri,
            owner=extension_text(cert, SOURCE_REPOSITORY_OWNER_URI),
            repository_id=extension_text(cert, SOURCE_REPOSITORY_ID),
            owner_id=extension_text(cert, SOURCE_REPOSITORY_OWNER_ID),
            repository_access=extension_text(cert, SOURCE_REPOSITORY_VISIBILITY),
            runner_environment=extension_text(cert, RUNNER_ENVIRONMENT),
            workflow=workflow,
            workflow_path=None,  # the Build Config URI is checked whole (policy.BuildConfigIs)
            commit=extension_text(cert, BUILD_CONFIG_DIGEST)
            or extension_text(cert, SOURCE_REPOSITORY_DIGEST),
            ref=extension_text(cert, SOURCE_REPOSITORY_REF),
            trigger_event=extension_text(cert, BUILD_TRIGGER),
            log_index=log_index,
            integrated_time=integrated_time,
            source_commit=extension_text(cert, SOURCE_REPOSITORY_DIGEST),
            environment=extension_text(cert, DEPLOYMENT_ENVIRONMENT),
            environment_signed=extension_text(cert, DEPLOYMENT_ENVIRONMENT) is not None,
        )

    def summary(self) -> str:
        """`owner/repo workflow@sha ref (log index N)` — the tail of an OK line."""
        if self.key_id is not None:
            head = f"key {self.key_id[:16]} {self.repository or '?'}"
        elif self.repository:
            head = self.repository
        else:
            head = self.identity
        parts = [head]
        if self.workflow:
            parts.append(f"{self.workflow}@{self.commit or '?'}")
        if self.ref:
            parts.append(self.ref)
        if self.log_index is not None:
            parts.append(f"(log index {self.log_index})")
        return " ".join(parts)

    def pypi_provenance(self) -> dict[str, object]:
        """The facts PyPI shows on a file page, under the names PyPI uses."""
        return {
            "owner": self.owner,
            "repository": self.repository,
            "repository_id": self.repository_id,
            "owner_id": self.owner_id,
            "repository_access": self.repository_access,
            "token_issuer": self.token_issuer,
            "runner_environment": self.runner_environment,
            "publication_workflow": (
                f"{self.workflow}@{self.commit}" if self.workflow and self.commit else None
            ),
            "trigger_event": self.trigger_event,
            "ref": self.ref,
            "log_index": self.log_index,
            "integrated_time": self.integrated_time,
            "signer": self.identity if self.key_id is None else f"key {self.key_id}",
            "environment": self.environment,
        }

    def sourced(self) -> list[tuple[str, object, str]]:
        """Every known fact as (name, value, source): signed by what, or taken from where."""
        special = {
            "log_index": FROM_LOG,
            "integrated_time": FROM_LOG,
            "environment": self.source if self.environment_signed else FROM_PUBLISHER_RECORD,
            "signer": FROM_KEY if self.key_id is not None else self.source,
        }
        named = {**self.pypi_provenance(), "source_commit": self.source_commit}
        return [
            (name, value, special.get(name, self.source))
            for name, value in named.items()
            if value is not None
        ]
