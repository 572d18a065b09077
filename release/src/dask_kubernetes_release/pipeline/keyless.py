"""The rehearsal's keyless signing: on the local Sigstore, as release.yml's attest job signs.

Why: the release is signed keylessly; a rehearsal that signs with a key never runs that path.
When the local instance is built (tools/sigstore/, dask_kubernetes_release.localsigstore), the
attest steps run `attest --sigstore --trust-config` in a GitHub Actions job's environment whose
token says what release.yml's would (this repository, release.yml, the release's tag, the
commit, a push, a GitHub-hosted runner, the `pypi` environment), so the default project policy
verifies the result. The instance starts at the first attest step and stops with the pipeline;
its trusted root lands in --out as trusted_root.json (merged with one from an earlier run when a
resumed run signs again), so `release verify --trusted-root` checks the rehearsal's files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dask_kubernetes_release.core.dists import (
    TRUSTED_ROOT_NAME,
    find_distributions,
    parse_distribution_name,
)
from dask_kubernetes_release.core.errors import CheckFailed
from dask_kubernetes_release.core.files import write_atomically
from dask_kubernetes_release.core.git import Git
from dask_kubernetes_release.core.paths import repository_root
from dask_kubernetes_release.localsigstore.build import BuildError, Built, find_built
from dask_kubernetes_release.localsigstore.instance import LocalSigstore, StartError
from dask_kubernetes_release.localsigstore.issuer import github_claims

LABEL = "Sigstore, local instance"
_LISTS = ("tlogs", "certificateAuthorities", "ctlogs", "timestampAuthorities")


def built_instance() -> Built | None:
    """The verified local build, None when there is none; a tampered one fails the pipeline."""
    try:
        return find_built()
    except BuildError as exc:
        raise CheckFailed(f"the local Sigstore build is unusable: {exc}") from None


class Signing:
    """The local instance for one pipeline run, started on first use."""

    def __init__(self, built: Built) -> None:
        self._built = built
        self._instance: LocalSigstore | None = None

    def instance(self) -> LocalSigstore:
        if self._instance is None:
            instance = LocalSigstore(self._built)
            try:
                instance.start()
            except (StartError, OSError) as exc:
                instance.stop()
                raise CheckFailed(f"the local Sigstore did not start: {exc}") from None
            self._instance = instance
        return self._instance

    def close(self) -> None:
        if self._instance is not None:
            self._instance.stop()
            self._instance = None


def release_claims(where: Path) -> dict[str, Any]:
    """The token release.yml's attest job would get for the release whose files are in `where`."""
    dists = find_distributions(where, allow_empty=True)
    if not dists:
        raise CheckFailed(f"no distribution in {where} to name the release's tag after")
    version = str(parse_distribution_name(dists[0].name).version)
    return github_claims(ref=f"refs/tags/{version}", sha=Git(repository_root()).head())


@contextmanager
def job_environment(env: dict[str, str]) -> Iterator[None]:
    """`env` in os.environ for the block (the attest step runs in this process), then restored."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def publish_trusted_root(instance: LocalSigstore, out: Path) -> Path:
    """`out`/trusted_root.json: this instance's, plus any earlier run's already there."""
    target = out / TRUSTED_ROOT_NAME
    root: dict[str, Any] = json.loads(instance.trusted_root_path.read_text())
    if target.is_file():
        earlier = json.loads(target.read_text())
        for key in _LISTS:
            root[key] = [
                *earlier.get(key, []),
                *(e for e in root[key] if e not in earlier.get(key, [])),
            ]
    write_atomically(target, json.dumps(root, indent=2) + "\n")
    return target


def sign(signing: Signing, where: Path, out: Path) -> str:
    """`release attest WHERE --sigstore --trust-config ...` in a release job's environment."""
    from dask_kubernetes_release.attest.command import attest

    instance = signing.instance()
    with job_environment(instance.job_env(release_claims(where))):
        attest(where, sigstore=True, trust_config=instance.trust_config_path)
    publish_trusted_root(instance, out)
    return f"{LABEL}; its trusted root: --out/{TRUSTED_ROOT_NAME}"
