"""Fixtures for keyless signing against the local Sigstore (dask_kubernetes_release.localsigstore).

The instance is built from tools/sigstore/ (`python -m dask_kubernetes_release.localsigstore
build`, which .ci/run runs under its own time cap); when it is not built these tests SKIP with
that reason, never fail. A cached build whose binaries changed since it was built fails loudly.

Mocked boundary, and only it: GitHub Actions' OIDC issuer is our own (localsigstore.issuer),
because only GitHub can mint GitHub's tokens. Fulcio, the CT log, Rekor v2 and the timestamp
authority are the real servers, built from source and reached over TLS on loopback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dask_kubernetes_release.localsigstore.build import BUILD_HINT, find_built
from dask_kubernetes_release.localsigstore.instance import LocalSigstore
from dask_kubernetes_release.localsigstore.issuer import github_claims

Sign = Callable[..., Path]


@pytest.fixture(scope="module")
def local_sigstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSigstore]:
    """One instance per module: none is left running when test_keyless_pipeline's rehearsal
    starts its own (the timestamp authority's metrics port is fixed: one per machine)."""
    built = find_built()
    if built is None:
        pytest.skip(f"the local Sigstore is not built: {BUILD_HINT}")
    with LocalSigstore(built, tmp_path_factory.mktemp("local-sigstore")) as instance:
        yield instance


@pytest.fixture
def job(
    local_sigstore: LocalSigstore, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., dict[str, str]]:
    """Become a GitHub Actions job (id-token: write) whose token carries `claims`: its variables
    are set in this process (undone after the test) and returned for a subprocess."""

    def become(claims: dict[str, Any]) -> dict[str, str]:
        env = local_sigstore.job_env(claims)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return env

    return become


@pytest.fixture
def sign(
    local_sigstore: LocalSigstore,
    job: Callable[..., dict[str, str]],
    make_dist: Callable[..., Path],
    release: Callable[..., Any],
    tmp_path: Path,
) -> Sign:
    """`release attest DIR --sigstore --trust-config ...` (the CLI, in this process) over one
    small wheel, in a job whose token has `github_claims(**overrides)`; returns DIR."""

    def run(name: str = "dist", version: str = "2026.12.0", **overrides: Any) -> Path:
        directory = tmp_path / name
        directory.mkdir()
        make_dist(directory, f"dask_kubernetes-{version}-py3-none-any.whl", version=version)
        job(github_claims(**overrides))
        result = release(
            "attest", directory, "--sigstore", "--trust-config", local_sigstore.trust_config_path
        )
        assert result.code == 0, result.err
        return directory

    return run


@pytest.fixture
def clean_env() -> dict[str, str]:
    """This process's environment without any GitHub Actions job variables."""
    prefixes = ("GITHUB_", "ACTIONS_", "RUNNER_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
