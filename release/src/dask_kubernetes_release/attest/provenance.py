"""The SLSA provenance v1 predicate: where, from what, and with which toolchain a file was built.

Why: PyPI's publish attestation names only the publisher; the provenance also pins the source
commit and the exact build toolchain (build, hatchling, hatch-vcs as locked), so a rebuild can
be compared. Filled from the GitHub Actions environment when present, from git and the local
machine otherwise.

The toolchain entries come from `build-toolchain.json`, written by `release build`: each backend
package with the one sha256 pip installed (`digest`). pypa `build` itself runs from the release
tool's environment, where no install report exists, so its entry (like every entry when the
record is absent) carries the lock's sha256 values for that version under
`annotations.lockedSha256` instead, with `annotations.recordedBy` saying so.
"""

from __future__ import annotations

import getpass
import importlib.metadata
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from dask_kubernetes_release.build.toolchain import FROM_LOCK, Artefact, ToolchainRecord
from dask_kubernetes_release.core import clock
from dask_kubernetes_release.core.git import Git
from dask_kubernetes_release.core.paths import find_clone, release_lock, repository_root
from dask_kubernetes_release.core.requirements import read_lock

TOOLCHAIN = ("build", "hatchling", "hatch-vcs")
GITHUB_BUILD_TYPE = "https://actions.github.io/buildtypes/workflow/v1"
LOCAL_BUILD_TYPE = "https://github.com/dask/dask-kubernetes/blob/main/docs/VERIFYING.md#local-build"


@dataclass(frozen=True)
class BuildContext:
    """The facts about one build run that the provenance records."""

    repository: str  # https://github.com/OWNER/NAME, or file:// for a local checkout
    ref: str
    commit: str
    workflow_path: str
    builder_id: str
    build_type: str
    event_name: str
    runner_environment: str
    invocation_id: str
    extra_internal: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_github(cls, env: Mapping[str, str]) -> BuildContext:
        """GitHub Actions' default environment variables (all set on every hosted run)."""
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        repo = env["GITHUB_REPOSITORY"]
        workflow_ref = env.get("GITHUB_WORKFLOW_REF", "")  # o/r/.github/workflows/x.yml@ref
        path = workflow_ref.split("@", 1)[0].removeprefix(f"{repo}/")
        attempt = env.get("GITHUB_RUN_ATTEMPT", "1")
        internal = [
            (name.lower(), env[name])
            for name in ("GITHUB_REPOSITORY_ID", "GITHUB_REPOSITORY_OWNER_ID", "GITHUB_ACTOR_ID")
            if name in env
        ]
        return cls(
            repository=f"{server}/{repo}",
            ref=env.get("GITHUB_REF", ""),
            commit=env.get("GITHUB_SHA", ""),
            workflow_path=path,
            builder_id=f"{server}/{workflow_ref}" if workflow_ref else f"{server}/{repo}",
            build_type=GITHUB_BUILD_TYPE,
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            runner_environment=env.get("RUNNER_ENVIRONMENT", ""),
            invocation_id=f"{server}/{repo}/actions/runs/{env.get('GITHUB_RUN_ID', '')}"
            f"/attempts/{attempt}",
            extra_internal=tuple(internal),
        )

    @classmethod
    def from_local(cls, checkout: Path) -> BuildContext:
        """A build on a developer machine: facts from git and the host."""
        commit = _git(checkout, "rev-parse", "HEAD") or "unknown"
        ref = _git(checkout, "symbolic-ref", "-q", "HEAD") or commit
        host = f"{getpass.getuser()}@{platform.node() or 'localhost'}"
        return cls(
            repository=_remote_url(checkout),
            ref=ref,
            commit=commit,
            workflow_path="release/src/dask_kubernetes_release/attest/command.py",
            builder_id=f"local://{host}",
            build_type=LOCAL_BUILD_TYPE,
            event_name="local",
            runner_environment="local",
            invocation_id=f"local://{host}/{clock.utcnow():%Y%m%dT%H%M%SZ}",
        )

    @classmethod
    def detect(cls, env: Mapping[str, str], checkout: Path | None = None) -> BuildContext:
        if env.get("GITHUB_ACTIONS") == "true" and "GITHUB_REPOSITORY" in env:
            return cls.from_github(env)
        return cls.from_local(repository_root() if checkout is None else checkout)


def _git(checkout: Path, *argv: str) -> str:
    """A git answer, or "" when there is none (provenance of a plain directory is still valid)."""
    return Git(checkout).maybe(*argv) or ""


def _remote_url(checkout: Path) -> str:
    """`origin` as an https URL (ssh remotes rewritten), else the checkout as file://."""
    url = _git(checkout, "remote", "get-url", "origin")
    if url.startswith("git@") and ":" in url:
        host, path = url.removeprefix("git@").split(":", 1)
        url = f"https://{host}/{path}"
    url = url.removesuffix(".git")
    return url or checkout.resolve().as_uri()


def locked_toolchain(lock: Path | None = None) -> list[dict[str, Any]]:
    """ResourceDescriptors for the build toolchain, exactly as the release lock (default: the
    clone's) pins it."""
    lock = release_lock() if lock is None else lock
    clone = find_clone(lock.parent)
    lock_file = str(lock.resolve().relative_to(clone)) if clone is not None else ""
    pins = read_lock(lock)
    described: list[dict[str, Any]] = []
    for name in TOOLCHAIN:
        pin = pins.get(canonicalize_name(name))
        version = pin.version if pin else ""
        hashes = [h.removeprefix("sha256:") for h in pin.hashes] if pin else []
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        described.append(
            {
                "name": name,
                "uri": f"pkg:pypi/{name}@{version}",
                "annotations": {
                    "lockFile": lock_file,
                    "lockedVersion": version,
                    "lockedSha256": hashes,
                    "installedVersion": installed,
                    "recordedBy": f"{FROM_LOCK} (no build-toolchain.json beside the files)",
                },
            }
        )
    return described


def recorded_toolchain(record: ToolchainRecord) -> list[dict[str, Any]]:
    """ResourceDescriptors for what the build recorded: one exact digest per artefact it knows.

    `build`, `hatchling` and `hatch-vcs` come first, then the rest of the backend's closure.
    """
    first = {name: index for index, name in enumerate(TOOLCHAIN)}
    ordered = sorted(record.packages, key=lambda a: (first.get(a.name, len(first)), a.name))
    return [_descriptor(artefact) for artefact in ordered]


def _descriptor(artefact: Artefact) -> dict[str, Any]:
    annotations: dict[str, Any] = {"role": artefact.role, "recordedBy": artefact.recorded_by}
    described: dict[str, Any] = {
        "name": artefact.name,
        "uri": f"pkg:pypi/{artefact.name}@{artefact.version}",
    }
    if artefact.sha256:
        described["digest"] = {"sha256": artefact.sha256}
        annotations["filename"] = artefact.filename
    else:
        annotations["lockedSha256"] = list(artefact.locked_sha256)
    described["annotations"] = annotations
    return described


def slsa_predicate(
    ctx: BuildContext, started: datetime, finished: datetime, toolchain: list[dict[str, Any]]
) -> dict[str, Any]:
    """SLSA provenance v1 (https://slsa.dev/spec/v1.0/provenance)."""
    source = {
        "uri": f"git+{ctx.repository}@{ctx.ref}",
        "digest": {"gitCommit": ctx.commit},
    }
    internal: dict[str, str] = {
        "event_name": ctx.event_name,
        "runner_environment": ctx.runner_environment,
        **dict(ctx.extra_internal),
    }
    return {
        "buildDefinition": {
            "buildType": ctx.build_type,
            "externalParameters": {
                "workflow": {
                    "repository": ctx.repository,
                    "ref": ctx.ref,
                    "path": ctx.workflow_path,
                }
            },
            "internalParameters": {"github": internal},
            "resolvedDependencies": [source, *toolchain],
        },
        "runDetails": {
            "builder": {"id": ctx.builder_id},
            "metadata": {
                "invocationId": ctx.invocation_id,
                "startedOn": clock.rfc3339(started),
                "finishedOn": clock.rfc3339(finished),
            },
        },
    }
