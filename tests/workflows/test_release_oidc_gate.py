"""Who may mint an OIDC token: every job holding `id-token: write`, in every workflow, runs only
for canonical tag pushes and in the environment that publishing uses.

An OIDC token is a release identity: Sigstore signs with it and PyPI trusts it. A job that held
one on a `workflow_dispatch` from a branch would hand anyone allowed to dispatch a valid release
signature without the environment's approval. The rule is written over all jobs, so a job added
later with `id-token: write` is held to it too; the mutation tests show the rule can fail.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

Load = Callable[[str], dict[str, Any]]
PUBLISH_JOB = "publish"
# The gate publish runs behind; any job that can mint a token must carry all of it.
GATE = (
    "github.event_name == 'push'",
    "startsWith(github.ref, 'refs/tags/')",
    "github.repository == 'dask/dask-kubernetes'",
)


def environment_name(job: dict[str, Any]) -> str | None:
    environment = job.get("environment")
    if isinstance(environment, dict):
        name = environment.get("name")
        return name if isinstance(name, str) else None
    return environment if isinstance(environment, str) else None


def condition_clauses(condition: object) -> list[str] | None:
    """The `&&`-joined clauses of a job's `if:`, or None when there is none."""
    if not isinstance(condition, str):
        return None
    text = condition.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2].strip()
    return [clause.strip() for clause in text.split("&&")]


def mints_oidc_token(workflow: dict[str, Any], job: dict[str, Any]) -> bool:
    """Whether the job's own (or else the inherited) permissions grant `id-token: write`."""
    permissions = job.get("permissions", workflow.get("permissions"))
    if permissions == "write-all":
        return True
    return isinstance(permissions, dict) and permissions.get("id-token") == "write"


def oidc_gate_violations(workflow: dict[str, Any]) -> list[str]:
    """Why each job that can mint an OIDC token is not gated exactly like publish ([] if none)."""
    jobs: dict[str, Any] = workflow["jobs"]
    publish = jobs.get(PUBLISH_JOB, {})
    publish_environment = environment_name(publish)
    problems: list[str] = []
    for name, job in jobs.items():
        if not mints_oidc_token(workflow, job):
            continue
        clauses = condition_clauses(job.get("if"))
        if clauses is None:
            problems.append(f"{name}: no `if:`, so it runs on any ref and event")
            clauses = []
        # Only the gate's own clauses, joined by &&: anything else (`||`, `!`, always(), a
        # grouping) could widen it, and that cannot be proven here, so it is refused.
        missing = [clause for clause in GATE if clause not in clauses]
        foreign = [clause for clause in clauses if clause not in GATE]
        if missing:
            problems.append(f"{name}: `if:` lacks {', '.join(missing)}")
        if foreign:
            problems.append(f"{name}: `if:` has clauses beyond the gate: {foreign}")
        if publish_environment is None:
            problems.append(f"{name}: holds id-token but publish has no environment to share")
        elif environment_name(job) != publish_environment:
            problems.append(
                f"{name}: environment {environment_name(job)!r}, publish uses "
                f"{publish_environment!r}"
            )
    return problems


@pytest.mark.parametrize("name", ["release.yml", "ci.yml"])
def test_every_oidc_job_is_gated_like_publish(name: str, load: Load) -> None:
    assert oidc_gate_violations(load(name)) == []


def test_release_signs_only_where_it_publishes(release_workflow: dict[str, Any]) -> None:
    jobs = release_workflow["jobs"]
    minting = {n for n, job in jobs.items() if mints_oidc_token(release_workflow, job)}
    assert minting == {"image", "attest", "publish", "publish-toolkit"}  # the rule is not vacuous
    assert environment_name(jobs["attest"]) == environment_name(jobs["publish"]) == "pypi"
    assert environment_name(jobs["publish-toolkit"]) == "pypi"
    assert environment_name(jobs["image"]) == "pypi"


MUTATIONS: dict[str, Callable[[dict[str, Any]], object]] = {
    "attest outside the environment": lambda w: w["jobs"]["attest"].pop("environment"),
    "attest on any ref": lambda w: w["jobs"]["attest"].pop("if"),
    "attest on dispatch too": lambda w: w["jobs"]["attest"].__setitem__(
        "if", w["jobs"]["publish"]["if"] + " || github.event_name == 'workflow_dispatch'"
    ),
    "attest forced by always()": lambda w: w["jobs"]["attest"].__setitem__(
        "if", "always() && " + w["jobs"]["publish"]["if"]
    ),
    "attest from branches": lambda w: w["jobs"]["attest"].__setitem__(
        "if", "github.event_name == 'push' && github.repository == 'dask/dask-kubernetes'"
    ),
    "a new signing job": lambda w: w["jobs"].__setitem__(
        "sign-extra",
        {"runs-on": "ubuntu-latest", "permissions": {"id-token": "write"}, "steps": []},
    ),
    "a new job with write-all": lambda w: w["jobs"].__setitem__(
        "sign-all", {"runs-on": "ubuntu-latest", "permissions": "write-all", "steps": []}
    ),
    "a new job in another environment": lambda w: w["jobs"].__setitem__(
        "sign-other",
        {**w["jobs"]["publish"], "environment": {"name": "staging"}},
    ),
    "id-token for every job": lambda w: (
        w.__setitem__("permissions", {"id-token": "write"}),
        w["jobs"]["build"].pop("permissions"),
    ),
}


@pytest.mark.parametrize("label", sorted(MUTATIONS))
def test_the_rule_catches_an_ungated_signer(label: str, release_workflow: dict[str, Any]) -> None:
    workflow = copy.deepcopy(release_workflow)
    MUTATIONS[label](workflow)
    assert oidc_gate_violations(workflow) != [], label
