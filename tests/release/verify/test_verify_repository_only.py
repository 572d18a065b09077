"""`verify --repository OWNER/NAME` without `--workflow`: accepted, as pypi-attestations accepts
a repository-only policy, and the output says plainly what was left open.

The attacker's cases: evidence from another repository still fails (the repository is checked
whatever else is left out), and nobody reading the report can mistake a repository-only pass
for a pinned workflow: the text and the JSON both state "workflow: not pinned".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import jsonschema

SIGSTORE = "sigstore-3.6.1.tar.gz"
GITLAB = "gitlab_oidc_project-0.0.3.tar.gz"
REPOSITORY = "sigstore/sigstore-python"
NOT_PINNED = f"    workflow: not pinned (any workflow of {REPOSITORY})"
SCHEMA = resources.files("dask_kubernetes_release.verify") / "verify-report.schema.json"


def test_a_repository_only_policy_passes_and_says_the_workflow_is_not_pinned(
    release: Callable[..., object], attestation_fixtures: Path
) -> None:
    dist = attestation_fixtures / SIGSTORE
    result = release("verify", dist, "--repository", REPOSITORY)
    assert result.code == 0, result.out + result.err  # type: ignore[attr-defined]
    lines = result.out.splitlines()  # type: ignore[attr-defined]
    assert lines[0].startswith(f"OK {SIGSTORE}  {REPOSITORY} release.yml@")
    assert NOT_PINNED in lines
    pinned = release("verify", dist, "--repository", REPOSITORY, "--workflow", "release.yml")
    assert pinned.code == 0  # type: ignore[attr-defined]
    assert "not pinned" not in pinned.out  # type: ignore[attr-defined]


def test_a_repository_only_policy_still_refuses_another_repository(
    release: Callable[..., object], attestation_fixtures: Path
) -> None:
    result = release("verify", attestation_fixtures / SIGSTORE, "--repository", "sigstore/cosign")
    assert result.code == 1  # type: ignore[attr-defined]
    assert result.out == (  # type: ignore[attr-defined]
        f"FAIL {SIGSTORE}: the repository is https://github.com/{REPOSITORY}, the policy "
        "expects https://github.com/sigstore/cosign\n"
    )
    gitlab = release("verify", attestation_fixtures / GITLAB, "--repository", REPOSITORY)
    assert gitlab.code == 1  # type: ignore[attr-defined]


def test_the_json_report_names_what_was_not_pinned(
    release: Callable[..., object], attestation_fixtures: Path
) -> None:
    schema = json.loads(SCHEMA.read_text())
    dist = attestation_fixtures / SIGSTORE
    loose = json.loads(release("verify", dist, "--repository", REPOSITORY, "--json").out)  # type: ignore[attr-defined]
    jsonschema.Draft202012Validator(schema).validate(loose)
    assert loose["files"][0]["not_pinned"] == {"workflow": f"any workflow of {REPOSITORY}"}
    strict = json.loads(
        release("verify", dist, "--repository", REPOSITORY, "--workflow", "release.yml",
                "--json").out  # type: ignore[attr-defined]
    )  # fmt: skip
    jsonschema.Draft202012Validator(schema).validate(strict)
    assert strict["files"][0]["not_pinned"] == {}


def test_a_gitlab_project_alone_is_a_policy_too(
    release: Callable[..., object], attestation_fixtures: Path
) -> None:
    project = "https://gitlab.com/facutuesca/gitlab-oidc-project"
    result = release("verify", attestation_fixtures / GITLAB, "--repository", project)
    assert result.code == 0, result.out  # type: ignore[attr-defined]
    assert (
        "    workflow: not pinned (any workflow of facutuesca/gitlab-oidc-project)"
        in result.out.splitlines()  # type: ignore[attr-defined]
    )


def test_the_reference_tool_accepts_the_same_repository_only_policy(
    reference: Callable[..., object], attestation_fixtures: Path
) -> None:
    dist = attestation_fixtures / SIGSTORE
    ref = reference("verify", "pypi", "--offline", "--repository",
                    f"https://github.com/{REPOSITORY}", "--provenance-file",
                    f"{dist}.provenance", dist)  # fmt: skip
    assert ref.code == 0, ref.err  # type: ignore[attr-defined]


def test_a_workflow_without_a_repository_is_still_refused(
    release: Callable[..., object], attestation_fixtures: Path
) -> None:
    result = release("verify", attestation_fixtures / SIGSTORE, "--workflow", "release.yml")
    assert result.code == 2  # type: ignore[attr-defined]
    assert result.err == (  # type: ignore[attr-defined]
        "error: a publisher policy needs --repository (and, to pin it, --workflow)\n"
    )
