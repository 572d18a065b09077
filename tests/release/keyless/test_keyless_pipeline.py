"""`release pipeline` signs keylessly on the local Sigstore when it is built, and says so.

Mocked boundary (and only it): GitHub Actions' OIDC issuer is ours; the rehearsal's token says
what release.yml's attest job's would (this repository, release.yml, the release's tag, a push,
a GitHub-hosted runner). Fulcio, Rekor v2, the CT log and the TSA are the real servers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dask_kubernetes_release.core.lockfiles import LOCK_NAMES
from dask_kubernetes_release.localsigstore.build import BUILD_HINT, find_built

pytestmark = pytest.mark.slow


def _release(clone: Path, *args: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ACTIONS_"))}
    env["DASK_K8S_VENV"] = str(Path(sys.prefix))
    return subprocess.run(
        [sys.executable, "-m", "release", *map(str, args)],
        cwd=clone, env=env, capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip


def test_the_rehearsal_signs_keylessly_and_verifies(tmp_path: Path, repo_root: Path) -> None:
    if find_built() is None:
        pytest.skip(f"the local Sigstore is not built: {BUILD_HINT}")
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(repo_root), str(clone)], check=True)
    out = tmp_path / "out"
    proc = _release(clone, "pipeline", "--skip-tests", "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "attest (Sigstore, local instance)" in proc.stdout
    assert "attest-verifier (Sigstore, local instance)" in proc.stdout
    names = {p.name for p in out.iterdir()}
    assert "trusted_root.json" in names
    assert not [n for n in names if n.startswith("local-attestation-key")], names
    assert not [p for p in (out / "toolkit").iterdir() if "attestation-key" in p.name]
    root = json.loads((out / "trusted_root.json").read_text())
    assert [ca["uri"].split(":")[0] for ca in root["certificateAuthorities"]] == ["https"]

    whole = _release(clone, "verify", out, "--trusted-root", out / "trusted_root.json")
    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert whole.stdout.count("OK ") == 3 + len(LOCK_NAMES)
    assert "token_issuer: https://token.actions.githubusercontent.com" in whole.stdout
    toolkit = _release(
        clone, "verify", out / "toolkit", "--trusted-root", out / "trusted_root.json"
    )
    assert toolkit.returncode == 0, toolkit.stdout + toolkit.stderr
    # The bundled (public) trust root does not know the rehearsal's instance.
    public = _release(clone, "verify", out)
    assert public.returncode == 1
