"""Who must have published a file: a publisher policy checked against signer facts.

Why: a valid Sigstore signature proves only that *someone* with an OIDC identity signed. The
policy pins that identity to one repository (and, as PyPI's Trusted Publishing does, to its
numeric repository and owner IDs), one workflow file, and optionally a ref glob, trigger and
runner environment. The workflow may be left out, as pypi-attestations allows: then any
workflow of the repository passes, and `not_pinned()` says so for the report to state it.
Each check is one small class, composed with sigstore's `AllOf` in the style of
`sigstore.verify.policy`; the same classes check the facts of a key-signed in-toto
statement, so both kinds of evidence are held to every field. A field that the evidence cannot
show fails the verdict with that reason: the deployment environment is read from the Fulcio
certificate (ext. .23) when every certificate of the file carries it; otherwise (older
certificates, key-signed statements) it passes only if the user opts in to PyPI's unsigned
publisher record.

`PublisherPolicy` is the one schema of a policy: a strict pydantic model, used for the policy
file and for the command-line options alike, so bad input is refused in one line (exit 2).

`Pins` (the policy file's `[require]`, and options such as `--source-digest`) are checked the same
way, after the signatures: each pin is one field naming its check class (`CheckedBy`), and the
checks take the `Verified` facts (who signed, which statement types verified), composed with
`AllPins` as sigstore composes certificate checks with `AllOf`.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from cryptography.x509 import Certificate, ObjectIdentifier
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sigstore.errors import VerificationError
from sigstore.verify import policy as sigstore_policy

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.verify import claims
from dask_kubernetes_release.verify.evidence import validation_reason
from dask_kubernetes_release.verify.options import TRUST_RECORD_OPTION

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
# This project's own policy ships inside the package, so an installed verifier applies it to
# dask-kubernetes files; a clone's attestations/policy.toml is a link to this very file.
PROJECT_POLICY = Path(__file__).resolve().parent / "project-policy.toml"


class ClaimEquals:
    """One signer fact must hold exactly one value: a certificate extension, or the same fact
    as a key-signed statement states it (`fact`, a `SignerFacts` field)."""

    def __init__(self, oid: ObjectIdentifier, fact: str, expected: str, what: str) -> None:
        self._oid, self._fact, self.expected, self._what = oid, fact, expected, what

    def holds(self, actual: str) -> bool:
        return actual == self.expected

    def _judge(self, actual: str | None) -> None:
        if actual is None or not self.holds(actual):
            raise VerificationError(
                f"{self._what} is {actual or 'missing'}, the policy expects {self.expected}"
            )

    def verify(self, cert: Certificate) -> None:
        self._judge(claims.extension_text(cert, self._oid))

    def check(self, facts: claims.SignerFacts) -> None:
        self._judge(getattr(facts, self._fact))


class EnvironmentIfCertified:
    """The deployment environment, where the certificate carries it (Fulcio's ext. .23), must be
    the policy's. A certificate without it passes here and is judged by `check_environment`,
    which then needs PyPI's publisher record and the user's trust in it."""

    def __init__(self, expected: str) -> None:
        self.expected = expected

    def verify(self, cert: Certificate) -> None:
        actual = claims.extension_text(cert, claims.DEPLOYMENT_ENVIRONMENT)
        if actual is not None and actual != self.expected:
            raise VerificationError(
                f"the deployment environment is {actual}, the policy expects {self.expected}"
            )


def certified_environment(certified: Sequence[str | None]) -> str | None:
    """The environment every certificate of a file carries, or None if any lacks it."""
    if not certified or any(value is None for value in certified):
        return None
    if len(set(certified)) != 1:
        raise VerificationError("the file's certificates disagree on the deployment environment")
    return certified[0]


class ClaimMatches(ClaimEquals):
    """One signer fact must match a glob, e.g. `refs/tags/*`."""

    def holds(self, actual: str) -> bool:
        return fnmatch.fnmatchcase(actual, self.expected)


class BuildConfigIs:
    """The workflow file that ran must be the expected one: in a certificate, the Build Config
    URI without its @ref; in a key-signed statement, the workflow's full path in the repository
    (not only its base name)."""

    def __init__(self, workflow_uri: str, workflow_path: str, workflow: str) -> None:
        self._uri, self._path, self._workflow = workflow_uri, workflow_path, workflow

    def verify(self, cert: Certificate) -> None:
        actual = claims.extension_text(cert, claims.BUILD_CONFIG_URI)
        if actual is None or actual.split("@", 1)[0] != self._uri:
            raise VerificationError(
                f"signed by workflow {actual or 'missing'}, the policy expects {self._workflow}"
            )

    def check(self, facts: claims.SignerFacts) -> None:
        if facts.workflow_path != self._path:
            raise VerificationError(
                f"signed by workflow {facts.workflow or 'missing'}, the policy expects "
                f"{self._workflow}"
            )


def _split_repository(text: str) -> tuple[str, str] | None:
    """`https://github.com/o/n` or `https://gitlab.com/g/s/n` -> (forge, path); None otherwise."""
    for forge in ("github", "gitlab"):
        prefix = f"https://{forge}.com/"
        if text.startswith(prefix):
            return forge, text.removeprefix(prefix)
    return None


class PublisherPolicy(BaseModel):
    """A CI publisher (GitHub Actions or GitLab CI/CD), as PyPI's Trusted Publishing knows it."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    repository: str = Field(min_length=1)  # owner/name; for GitLab group/subgroup/name
    workflow: str | None = Field(default=None, min_length=1)  # None: any workflow of repository
    ref: str | None = Field(default=None, min_length=1)
    environment: str | None = Field(default=None, min_length=1)
    trigger: str | None = Field(default=None, min_length=1)
    runner_environment: str | None = Field(default=None, min_length=1)
    repository_id: str | None = Field(default=None, pattern=r"^[0-9]+$")
    owner_id: str | None = Field(default=None, pattern=r"^[0-9]+$")
    forge: Literal["github", "gitlab"] = "github"

    @model_validator(mode="before")
    @classmethod
    def _forge_from_url(cls, data: Any) -> Any:
        """A repository given as a GitHub/GitLab URL names its forge."""
        if isinstance(data, Mapping) and isinstance(data.get("repository"), str):
            text = data["repository"].strip().rstrip("/")
            split = _split_repository(text)
            if split is None:
                return {**data, "repository": text}
            if data.get("forge", split[0]) != split[0]:
                raise ValueError(f"repository {text!r} is not on {data['forge']!r}")
            return {**data, "forge": split[0], "repository": split[1]}
        return data

    @field_validator("repository_id", "owner_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        """IDs are numbers; a TOML integer is read as the certificate's text."""
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return str(value)
        return value

    @model_validator(mode="after")
    def _repository_shape(self) -> PublisherPolicy:
        parts = self.repository.split("/")
        wanted = len(parts) == 2 if self.forge == "github" else len(parts) >= 2
        if "://" in self.repository or not wanted or not all(parts):
            raise ValueError(
                f"repository: expected OWNER/NAME or a GitHub/GitLab URL, got {self.repository!r}"
            )
        return self

    @property
    def repository_uri(self) -> str:
        return f"https://{self.forge}.com/{self.repository}"

    def _workflow_check(self, workflow: str) -> BuildConfigIs:
        if self.forge == "gitlab":
            return BuildConfigIs(f"{self.repository_uri}//{workflow}", workflow, workflow)
        path = f".github/workflows/{workflow}"
        return BuildConfigIs(f"{self.repository_uri}/{path}", path, workflow)

    def not_pinned(self) -> dict[str, str]:
        """What this policy leaves open, for the report to state: {field: what passes}."""
        if self.workflow is None:
            return {"workflow": f"any workflow of {self.repository}"}
        return {}

    def _checks(self) -> list[ClaimEquals | BuildConfigIs]:
        """Checks on the facts both a certificate and our SLSA statement carry."""
        checks: list[ClaimEquals | BuildConfigIs] = [
            ClaimEquals(
                claims.SOURCE_REPOSITORY_URI, "repository_uri", self.repository_uri,
                "the repository",
            ),
        ]  # fmt: skip
        if self.workflow is not None:
            checks.append(self._workflow_check(self.workflow))
        optional = (
            (ClaimMatches, claims.SOURCE_REPOSITORY_REF, "ref", self.ref, "the git ref"),
            (ClaimEquals, claims.BUILD_TRIGGER, "trigger_event", self.trigger, "the trigger event"),
            (ClaimEquals, claims.RUNNER_ENVIRONMENT, "runner_environment",
             self.runner_environment, "the runner"),
            (ClaimEquals, claims.SOURCE_REPOSITORY_ID, "repository_id", self.repository_id,
             "the repository ID"),
            (ClaimEquals, claims.SOURCE_REPOSITORY_OWNER_ID, "owner_id", self.owner_id,
             "the owner ID"),
        )  # fmt: skip
        for kind, oid, fact, expected, what in optional:
            if expected is not None:
                checks.append(kind(oid, fact, expected, what))
        return checks

    def sigstore_policy(self) -> sigstore_policy.VerificationPolicy:
        issuer = GITLAB_ISSUER if self.forge == "gitlab" else GITHUB_ISSUER
        checks: list[sigstore_policy.VerificationPolicy] = [
            ClaimEquals(claims.ISSUER, "token_issuer", issuer, "the OIDC token issuer"),
            *self._checks(),
        ]
        if self.environment is not None:
            checks.append(EnvironmentIfCertified(self.environment))
        return sigstore_policy.AllOf(checks)

    def check_facts(self, facts: claims.SignerFacts) -> None:
        """The same policy for key-signed evidence, whose facts come from the SLSA statement."""
        for check in self._checks():
            check.check(facts)
        if self.environment:
            raise VerificationError(
                f"cannot check environment {self.environment}: key-signed statements do not "
                "carry it (only PyPI's publisher record names an environment)"
            )

    def check_environment(
        self,
        records: Sequence[object],
        *,
        trust_records: bool,
        certified: Sequence[str | None] = (),
    ) -> str | None:
        """The deployment environment, once per file. When every certificate carries it
        (`certified`, ext. .23, each already held to the policy by `EnvironmentIfCertified`),
        that signed value is the answer. Otherwise only PyPI's publisher record, which nothing
        signs, names it: a policy that asks for an environment then fails unless the user trusts
        the record (`--trust-index-publisher`) and the record names that environment.
        """
        signed = certified_environment(certified)
        if signed is not None:
            return signed
        found: set[str | None] = {getattr(record, "environment", None) for record in records}
        if not self.environment:
            return found.pop() if trust_records and len(found) == 1 else None
        unproven = (
            f"the policy requires environment {self.environment}, which no signature shows "
            "(the Fulcio certificate does not carry it)"
        )
        if not records:
            raise VerificationError(f"{unproven}, and this evidence has no publisher record")
        if not trust_records:
            raise VerificationError(
                f"{unproven}; PyPI's publisher record in the provenance is not signed: pass "
                f"{TRUST_RECORD_OPTION} to accept what it says"
            )
        if len(found) != 1:
            raise VerificationError("PyPI's publisher records disagree on the environment")
        actual = found.pop()
        if actual != self.environment:
            raise VerificationError(
                f"PyPI's publisher record names environment {actual or '(none)'}, "
                f"the policy expects {self.environment}"
            )
        return actual

    def describe(self) -> str:
        ref = f" at {self.ref}" if self.ref else ""
        return f"{self.repository} {self.workflow or '(any workflow)'}{ref}"


class IdentityMatches:
    """The certificate's identity (SAN) must match a regular expression as a whole: like
    cosign's `--certificate-identity-regexp`, but anchored (fullmatch), so `github.com/o/.*`
    never accepts `https://evil.example/github.com/o/x`."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._compiled = re.compile(pattern)

    def verify(self, cert: Certificate) -> None:
        names = claims.subject_identities(cert)
        if not any(self._compiled.fullmatch(name) for name in names):
            raise VerificationError(
                f"the signer identity is {', '.join(names) or 'missing'}, the policy expects "
                f"one matching {self.pattern!r} (the whole identity)"
            )


class IdentityPolicy(BaseModel):
    """A signer identity (certificate SAN), exact or a regular expression, optionally from one
    OIDC issuer."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    identity: str | None = Field(default=None, min_length=1)
    identity_regexp: str | None = Field(default=None, min_length=1)
    issuer: str | None = None

    @model_validator(mode="after")
    def _one_identity(self) -> IdentityPolicy:
        if (self.identity is None) == (self.identity_regexp is None):
            raise ValueError("give exactly one of an identity and an identity regexp")
        if self.identity_regexp is not None:
            try:
                re.compile(self.identity_regexp)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return self

    def sigstore_policy(self) -> sigstore_policy.VerificationPolicy:
        if self.identity is not None:
            return sigstore_policy.Identity(identity=self.identity, issuer=self.issuer)
        checks: list[sigstore_policy.VerificationPolicy] = [
            IdentityMatches(str(self.identity_regexp))
        ]
        if self.issuer is not None:
            checks.append(sigstore_policy.OIDCIssuer(self.issuer))
        return sigstore_policy.AllOf(checks)

    def check_facts(self, facts: claims.SignerFacts) -> None:
        raise VerificationError("key-signed evidence carries no identity; use a publisher policy")

    def check_environment(
        self,
        records: Sequence[object],
        *,
        trust_records: bool,
        certified: Sequence[str | None] = (),
    ) -> str | None:
        signed = certified_environment(certified)
        if signed is not None:
            return signed
        found: set[str | None] = {getattr(record, "environment", None) for record in records}
        return found.pop() if trust_records and len(found) == 1 else None

    def not_pinned(self) -> dict[str, str]:
        return {}  # the identity names the workflow (or the person) itself

    def describe(self) -> str:
        return self.identity or f"identity matching {self.identity_regexp!r}"


@dataclass(frozen=True)
class Verified:
    """What verifying one file established, and all a pin is checked against: who signed (None
    when nothing verified) and the types of the statements that verified."""

    facts: claims.SignerFacts | None
    predicate_types: tuple[str, ...]


class PinCheck(Protocol):
    """One requirement on the verified facts, in the shape of sigstore's policy classes: built
    from a `Pins` field's value, it raises `VerificationError` with the reason, or returns."""

    def __init__(self, expected: Any) -> None: ...

    def check(self, verified: Verified) -> None: ...


class SourceDigestIs:
    """The source repository's commit must be this one (certificate extension .13, or the SLSA
    statement's `gitCommit`), like `gh attestation verify --source-digest`."""

    def __init__(self, expected: str) -> None:
        self.expected = expected

    def check(self, verified: Verified) -> None:
        actual = verified.facts.source_commit if verified.facts else None
        if actual != self.expected:
            raise VerificationError(
                f"the source commit is {actual or 'missing'}, the policy expects {self.expected}"
            )


class PredicateTypesVerified:
    """Statements of these types must be among the verified ones, like `gh attestation verify
    --predicate-type` (e.g. require SLSA provenance, not only PyPI's publish statement)."""

    def __init__(self, expected: tuple[str, ...]) -> None:
        self.expected = expected

    def check(self, verified: Verified) -> None:
        missing = [kind for kind in self.expected if kind not in verified.predicate_types]
        if missing:
            raise VerificationError(
                f"no verified statement of type {', '.join(missing)} (verified: "
                f"{', '.join(verified.predicate_types) or 'none'})"
            )


@dataclass(frozen=True)
class CheckedBy:
    """A `Pins` field's annotation: the check its value builds (`PinCheck`)."""

    check: type[PinCheck]


class AllPins:
    """Every pin's check must pass (sigstore's `AllOf`, over the verified facts)."""

    def __init__(self, checks: Sequence[PinCheck]) -> None:
        self.checks = tuple(checks)

    def check(self, verified: Verified) -> None:
        for check in self.checks:
            check.check(verified)


class Pins(BaseModel):
    """What else must hold, whoever the signer. A policy file gives them in `[require]`; the
    options add to them (verify/command.py's PIN_OPTIONS, one per field).

    Each field is one pin: its schema (validated, for the file and the options alike) and, as
    `CheckedBy`, the check its value builds. A new pin is one field here and one check class;
    merging, checking and the command line's values all follow the fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    source_digest: Annotated[
        str | None, Field(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$"), CheckedBy(SourceDigestIs)
    ] = None
    predicate_types: Annotated[tuple[str, ...], CheckedBy(PredicateTypesVerified)] = ()

    @field_validator("*", mode="before")
    @classmethod
    def _list_as_tuple(cls, value: Any) -> Any:
        """TOML and the command line give a list where a pin holds several values."""
        return tuple(value) if isinstance(value, list) else value

    @field_validator("predicate_types", mode="after")
    @classmethod
    def _uris(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if "://" not in item:
                raise ValueError(f"a predicate type is a URI, got {item!r}")
        return value

    @classmethod
    def check_class(cls, name: str) -> type[PinCheck]:
        """The check a field's value builds (its one `CheckedBy`)."""
        found = [m.check for m in cls.model_fields[name].metadata if isinstance(m, CheckedBy)]
        if len(found) != 1:
            raise TypeError(f"pin {name!r} needs exactly one CheckedBy, has {len(found)}")
        return found[0]

    def merged(self, other: Pins) -> Pins:
        """Both sets of requirements: several-valued pins add up; a single value given twice
        must agree."""
        values: dict[str, Any] = {}
        for name in type(self).model_fields:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, tuple):
                values[name] = tuple(sorted({*mine, *theirs}))
            elif mine is not None and theirs is not None and mine != theirs:
                label = name.replace("_", " ")
                raise UsageError(f"two different {label}s are required (option and policy)")
            else:
                values[name] = mine if mine is not None else theirs
        return type(self).model_validate(values)

    def policy(self) -> AllPins:
        """One check per pin that is set (an unset pin: None or empty), composed."""
        return AllPins(
            [
                type(self).check_class(name)(value)
                for name in type(self).model_fields
                if (value := getattr(self, name)) not in (None, ())
            ]
        )

    def check(self, verified: Verified) -> None:
        """Raise VerificationError unless the verified facts satisfy every pin."""
        self.policy().check(verified)


Policy = PublisherPolicy | IdentityPolicy


class PolicyFile(BaseModel):
    """`attestations/policy.toml`: the project(s) it applies to and its `[publisher]`.

    `project` may list several: one workflow releases dask-kubernetes and its verifier,
    dask-kubernetes-release, so one publisher policy is the default for both."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    project: str | tuple[str, ...] = ""
    publisher: PublisherPolicy
    require: Pins = Pins()

    @field_validator("project", mode="before")
    @classmethod
    def _list_as_tuple(cls, value: Any) -> Any:
        """TOML gives a list."""
        return tuple(value) if isinstance(value, list) else value

    @property
    def projects(self) -> tuple[str, ...]:
        if isinstance(self.project, str):
            return (self.project,) if self.project else ()
        return self.project


def policy_from_options(options: Mapping[str, str | None]) -> PublisherPolicy:
    """The policy given as command-line options, through the same schema as the file."""
    try:
        return PublisherPolicy.model_validate({k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "/".join(f"--{part}".replace("_", "-") for part in first.get("loc", ()))
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise UsageError(f"{where or 'policy options'}: {message}") from None


def load_policy_file(path: Path) -> tuple[tuple[str, ...], PublisherPolicy]:
    """Read a policy TOML file; returns (project names, policy). UsageError in one line."""
    document = load_policy_document(path)
    return document.projects, document.publisher


def load_policy_document(path: Path) -> PolicyFile:
    """The whole policy file, `[require]` pins included. UsageError in one line."""
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
        return PolicyFile.model_validate(data)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the policy file ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a usable policy file ({exc})") from None
    except ValidationError as exc:
        reason = validation_reason(exc).replace("Value error, ", "")
        raise UsageError(f"{path}: not a usable policy file ({reason})") from None


def pins_from_options(values: Mapping[str, object], options: Mapping[str, str]) -> Pins:
    """The pins given as command-line options (`values` by Pins field, `options`: the option
    that gives each field), through the same schema as `[require]`."""
    try:
        return Pins.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first.get("loc", ("policy",))[0])
        option = options.get(name, f"--{name}".replace("_", "-"))
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise UsageError(f"{option}: {message}") from None
