"""Who must have published a file: a publisher policy checked against signer facts.

Why: a valid Sigstore signature proves only that *someone* with an OIDC identity signed. The
policy pins that identity to one repository, one workflow file, and (optionally) a ref glob,
trigger and runner environment. Each check is one small class, composed with sigstore's
`AllOf`, in the style of `sigstore.verify.policy`.
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.x509 import Certificate, ObjectIdentifier
from sigstore.errors import VerificationError
from sigstore.verify import policy as sigstore_policy

from release import _verify_claims as claims
from release._errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
PROJECT_POLICY = Path(__file__).resolve().parent.parent / "attestations" / "policy.toml"


class ClaimEquals:
    """One certificate extension must hold exactly one value."""

    def __init__(self, oid: ObjectIdentifier, expected: str, what: str) -> None:
        self._oid, self._expected, self._what = oid, expected, what

    def verify(self, cert: Certificate) -> None:
        actual = claims.extension_text(cert, self._oid)
        if actual != self._expected:
            raise VerificationError(
                f"{self._what} is {actual or 'missing'}, the policy expects {self._expected}"
            )


class ClaimMatches:
    """One certificate extension must match a glob, e.g. `refs/tags/*`."""

    def __init__(self, oid: ObjectIdentifier, pattern: str, what: str) -> None:
        self._oid, self._pattern, self._what = oid, pattern, what

    def verify(self, cert: Certificate) -> None:
        actual = claims.extension_text(cert, self._oid)
        if actual is None or not fnmatch.fnmatchcase(actual, self._pattern):
            raise VerificationError(
                f"{self._what} is {actual or 'missing'}, the policy expects {self._pattern}"
            )


class BuildConfigIs:
    """The workflow file that ran (Build Config URI, without its @ref) must be the expected one."""

    def __init__(self, workflow_uri: str, workflow: str) -> None:
        self._uri, self._workflow = workflow_uri, workflow

    def verify(self, cert: Certificate) -> None:
        actual = claims.extension_text(cert, claims.BUILD_CONFIG_URI)
        if actual is None or actual.split("@", 1)[0] != self._uri:
            raise VerificationError(
                f"signed by workflow {actual or 'missing'}, the policy expects {self._workflow}"
            )


@dataclass(frozen=True)
class PublisherPolicy:
    """A CI publisher (GitHub Actions or GitLab CI/CD), as PyPI's Trusted Publishing knows it."""

    repository: str  # owner/name; for GitLab group/subgroup/name
    workflow: str
    ref: str | None = None
    environment: str | None = None
    trigger: str | None = None
    runner_environment: str | None = None
    forge: str = "github"

    @property
    def repository_uri(self) -> str:
        return f"https://{self.forge}.com/{self.repository}"

    def _workflow_uri(self) -> str:
        if self.forge == "gitlab":
            return f"{self.repository_uri}//{self.workflow}"
        return f"{self.repository_uri}/.github/workflows/{self.workflow}"

    def sigstore_policy(self) -> sigstore_policy.VerificationPolicy:
        issuer = GITLAB_ISSUER if self.forge == "gitlab" else GITHUB_ISSUER
        checks: list[sigstore_policy.VerificationPolicy] = [
            ClaimEquals(claims.ISSUER, issuer, "the OIDC token issuer"),
            ClaimEquals(claims.SOURCE_REPOSITORY_URI, self.repository_uri, "the repository"),
            BuildConfigIs(self._workflow_uri(), self.workflow),
        ]
        if self.ref:
            checks.append(ClaimMatches(claims.SOURCE_REPOSITORY_REF, self.ref, "the git ref"))
        if self.trigger:
            checks.append(ClaimEquals(claims.BUILD_TRIGGER, self.trigger, "the trigger event"))
        if self.runner_environment:
            checks.append(
                ClaimEquals(claims.RUNNER_ENVIRONMENT, self.runner_environment, "the runner")
            )
        return sigstore_policy.AllOf(checks)

    def check_facts(self, facts: claims.SignerFacts) -> None:
        """The same policy for key-signed evidence, whose facts come from the SLSA statement."""
        if facts.repository != self.repository:
            raise VerificationError(
                f"the repository is {facts.repository}, the policy expects {self.repository}"
            )
        if facts.workflow != self.workflow:
            raise VerificationError(
                f"signed by workflow {facts.workflow}, the policy expects {self.workflow}"
            )
        if self.ref and not fnmatch.fnmatchcase(facts.ref or "", self.ref):
            raise VerificationError(f"the git ref is {facts.ref}, the policy expects {self.ref}")

    def check_environment(self, publisher: object | None) -> None:
        """The deployment environment is not in the certificate: PyPI's publisher record has it.

        Checked whenever the evidence carries that record (a provenance object from PyPI); a
        bare attestation cannot show an environment, so it is not held against it.
        """
        if not self.environment or publisher is None:
            return
        environment = getattr(publisher, "environment", None)
        if environment != self.environment:
            raise VerificationError(
                f"PyPI's publisher record names environment {environment or '(none)'}, "
                f"the policy expects {self.environment}"
            )

    def describe(self) -> str:
        ref = f" at {self.ref}" if self.ref else ""
        return f"{self.repository} {self.workflow}{ref}"


@dataclass(frozen=True)
class IdentityPolicy:
    """An exact signer identity (certificate SAN), optionally from one OIDC issuer."""

    identity: str
    issuer: str | None = None

    def sigstore_policy(self) -> sigstore_policy.VerificationPolicy:
        return sigstore_policy.Identity(identity=self.identity, issuer=self.issuer)

    def check_facts(self, facts: claims.SignerFacts) -> None:
        raise VerificationError("key-signed evidence carries no identity; use a publisher policy")

    def check_environment(self, publisher: object | None) -> None:
        return None

    def describe(self) -> str:
        return self.identity


Policy = PublisherPolicy | IdentityPolicy


def parse_repository(value: str) -> tuple[str, str]:
    """`owner/name` (GitHub) or a GitHub/GitLab project URL -> (forge, owner/name)."""
    text = value.strip().rstrip("/")
    for forge in ("github", "gitlab"):
        prefix = f"https://{forge}.com/"
        if text.startswith(prefix):
            return forge, text.removeprefix(prefix)
    if "://" in text or text.count("/") != 1 or not all(text.split("/")):
        raise UsageError(f"--repository: expected OWNER/NAME or a GitHub/GitLab URL, got {value!r}")
    return "github", text


def load_policy_file(path: Path) -> tuple[str, PublisherPolicy]:
    """Read `[publisher]` from a policy TOML file; returns (project name, policy)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        publisher = data["publisher"]
        forge, repository = parse_repository(str(publisher["repository"]))
        return str(data.get("project", "")), PublisherPolicy(
            repository=repository,
            workflow=str(publisher["workflow"]),
            ref=publisher.get("ref"),
            environment=publisher.get("environment"),
            trigger=publisher.get("trigger"),
            runner_environment=publisher.get("runner_environment"),
            forge=forge,
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a usable policy file ({exc})") from None
