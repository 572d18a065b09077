"""keygen -> attest --key -> verify --key on a real build of this project.

The build is made once per session with `python -m release build`; each test works on a copy.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dask_kubernetes_release.attest.provenance import TOOLCHAIN
from dask_kubernetes_release.core.paths import release_lock

ROOT = Path(__file__).resolve().parents[3]
GITHUB_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "dask/dask-kubernetes",
    "GITHUB_REPOSITORY_ID": "123456",
    "GITHUB_REF": "refs/tags/2026.11.0",
    "GITHUB_WORKFLOW_REF": "dask/dask-kubernetes/.github/workflows/release.yml@refs/tags/2026.11.0",
    "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    "GITHUB_RUN_ID": "987654321",
    "GITHUB_RUN_ATTEMPT": "2",
    "GITHUB_EVENT_NAME": "push",
    "RUNNER_ENVIRONMENT": "github-hosted",
}


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build")
    env = {**os.environ, "DASK_K8S_NO_BOOTSTRAP": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "release", "build", "--out", str(out), "--allow-dirty"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture
def dists(built: Path, tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "dist"
    shutil.copytree(built, where)
    yield where


@pytest.fixture
def key(release: Callable[..., object], tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "release.key"
    path.parent.mkdir()
    result = release("keygen", path)
    assert result.code == 0, result.err  # type: ignore[attr-defined]
    return path


def _statements(jsonl: Path) -> list[dict[str, object]]:
    lines = jsonl.read_text().splitlines()
    return [json.loads(base64.b64decode(json.loads(line)["payload"])) for line in lines]


def _wheel_and_sdist(where: Path) -> tuple[Path, Path]:
    (wheel,) = where.glob("*.whl")
    (sdist,) = where.glob("*.tar.gz")
    return wheel, sdist


def test_keygen_writes_private_0600_and_public(release: Callable[..., object], key: Path) -> None:
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert Path(f"{key}.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    again = release("keygen", key)
    assert again.code == 2  # type: ignore[attr-defined]
    assert "already exists" in again.err  # type: ignore[attr-defined]
    ed = release("keygen", key.with_name("ed"), "--type", "ed25519")
    assert ed.code == 0  # type: ignore[attr-defined]


@pytest.mark.slow
def test_roundtrip_via_the_cli(dists: Path, key: Path) -> None:
    """The real entry point, as the release workflow runs it, in a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_"))}
    env["DASK_K8S_NO_BOOTSTRAP"] = "1"

    def cli(*argv: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "release", *map(str, argv)],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip

    attest = cli("attest", dists, "--key", key)
    assert attest.returncode == 0, attest.stderr
    wheel, sdist = _wheel_and_sdist(dists)
    verify = cli("verify", wheel, sdist, "--key", f"{key}.pub")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    lines = [line for line in verify.stdout.splitlines() if not line.startswith(" ")]
    assert [line.split()[:2] for line in lines] == [["OK", wheel.name], ["OK", sdist.name]]
    assert all(" key " in line for line in lines)


def test_local_provenance_from_git(
    release: Callable[..., object], dists: Path, key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in GITHUB_ENV:
        monkeypatch.delenv(name, raising=False)
    assert release("attest", dists, "--key", key).code == 0  # type: ignore[attr-defined]
    wheel, _ = _wheel_and_sdist(dists)
    publish, slsa = _statements(Path(f"{wheel}.intoto.jsonl"))
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert publish["predicateType"] == "https://docs.pypi.org/attestations/publish/v1"
    assert publish["subject"] == slsa["subject"]
    build = slsa["predicate"]["buildDefinition"]  # type: ignore[index]
    assert build["resolvedDependencies"][0]["digest"] == {"gitCommit": head}
    assert build["internalParameters"]["github"]["event_name"] == "local"
    assert slsa["predicate"]["runDetails"]["builder"]["id"].startswith("local://")  # type: ignore[index]


def test_github_provenance_and_policy(
    release: Callable[..., object], dists: Path, key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in GITHUB_ENV.items():
        monkeypatch.setenv(name, value)
    assert release("attest", dists, "--key", key).code == 0  # type: ignore[attr-defined]
    wheel, sdist = _wheel_and_sdist(dists)
    _publish, slsa = _statements(Path(f"{sdist}.intoto.jsonl"))
    sha256 = hashlib.sha256(sdist.read_bytes()).hexdigest()
    assert slsa["subject"] == [{"name": sdist.name, "digest": {"sha256": sha256}}]
    predicate = slsa["predicate"]
    assert isinstance(predicate, dict)
    build = predicate["buildDefinition"]
    assert build["buildType"] == "https://actions.github.io/buildtypes/workflow/v1"
    assert build["externalParameters"]["workflow"] == {
        "repository": "https://github.com/dask/dask-kubernetes",
        "ref": "refs/tags/2026.11.0",
        "path": ".github/workflows/release.yml",
    }
    assert build["internalParameters"]["github"]["runner_environment"] == "github-hosted"
    assert build["internalParameters"]["github"]["event_name"] == "push"
    source, *toolchain = build["resolvedDependencies"]
    assert source["digest"] == {"gitCommit": GITHUB_ENV["GITHUB_SHA"]}
    _assert_exact_toolchain(toolchain)
    details = predicate["runDetails"]
    assert details["builder"]["id"] == (
        "https://github.com/dask/dask-kubernetes/.github/workflows/release.yml@refs/tags/2026.11.0"
    )
    assert details["metadata"]["invocationId"] == (
        "https://github.com/dask/dask-kubernetes/actions/runs/987654321/attempts/2"
    )
    assert details["metadata"]["startedOn"] <= details["metadata"]["finishedOn"]

    ours = release(
        "verify", wheel, sdist, "--key", f"{key}.pub", "--policy", ROOT / "attestations/policy.toml"
    )
    assert ours.code == 0, ours.out + ours.err  # type: ignore[attr-defined]
    assert f"dask/dask-kubernetes release.yml@{GITHUB_ENV['GITHUB_SHA']} refs/tags/2026.11.0" in (
        ours.out  # type: ignore[attr-defined]
    )
    other = release("verify", wheel, "--key", f"{key}.pub", "--repository", "dask/distributed",
                    "--workflow", "release.yml")  # fmt: skip
    assert other.code == 1  # type: ignore[attr-defined]
    assert "the repository is https://github.com/dask/dask-kubernetes" in other.out  # type: ignore[attr-defined]


def _assert_exact_toolchain(toolchain: list[dict[str, Any]]) -> None:
    """One exact, locked sha256 per backend package, from the build's own record."""
    lock = release_lock().read_text()
    assert [dep["name"] for dep in toolchain[:3]] == list(TOOLCHAIN)
    assert {"packaging", "pluggy", "pathspec"} <= {dep["name"] for dep in toolchain}
    for dep in toolchain:
        name, version = dep["uri"].removeprefix("pkg:pypi/").split("@")
        assert f"\n{name}=={version} " in lock
        if name == "build":  # the frontend: the lock's list, marked as such
            assert "digest" not in dep
            assert dep["annotations"]["recordedBy"].startswith("lock: ")
            assert len(dep["annotations"]["lockedSha256"]) >= 1
            assert all(f"sha256:{h}" in lock for h in dep["annotations"]["lockedSha256"])
            continue
        assert set(dep["digest"]) == {"sha256"}
        assert f"sha256:{dep['digest']['sha256']}" in lock
        assert dep["annotations"]["recordedBy"] == "pip install --report"
        assert "lockedSha256" not in dep["annotations"]


def test_without_the_build_record_the_lock_pins_are_recorded_and_marked(
    release: Callable[..., object], dists: Path, key: Path
) -> None:
    (dists / "build-toolchain.json").unlink()
    assert release("attest", dists, "--key", key).code == 0  # type: ignore[attr-defined]
    wheel, sdist = _wheel_and_sdist(dists)
    _publish, slsa = _statements(Path(f"{wheel}.intoto.jsonl"))
    _source, *toolchain = slsa["predicate"]["buildDefinition"]["resolvedDependencies"]  # type: ignore[index]
    assert [dep["name"] for dep in toolchain] == list(TOOLCHAIN)
    lock = release_lock().read_text()
    for dep in toolchain:
        assert "digest" not in dep
        assert "no build-toolchain.json" in dep["annotations"]["recordedBy"]
        assert dep["annotations"]["lockedSha256"]
        assert all(f"sha256:{h}" in lock for h in dep["annotations"]["lockedSha256"])
    verified = release("verify", wheel, sdist, "--key", f"{key}.pub")
    assert verified.code == 0, verified.out + verified.err  # type: ignore[attr-defined]


def test_a_record_for_other_files_is_refused(
    release: Callable[..., object], dists: Path, key: Path
) -> None:
    wheel, _ = _wheel_and_sdist(dists)
    wheel.write_bytes(wheel.read_bytes() + b"\0")  # no longer what the build recorded
    refused = release("attest", dists, "--key", key)
    assert refused.code == 2  # type: ignore[attr-defined]
    assert f"build-toolchain.json was not written for {wheel.name}" in refused.err  # type: ignore[attr-defined]
    assert len(refused.err.strip().splitlines()) == 1  # type: ignore[attr-defined]
    assert not Path(f"{wheel}.intoto.jsonl").exists()


def test_key_signed_tampering_is_refused(
    release: Callable[..., object], dists: Path, key: Path, tmp_path: Path
) -> None:
    assert release("attest", dists, "--key", key).code == 0  # type: ignore[attr-defined]
    wheel, sdist = _wheel_and_sdist(dists)
    pub = f"{key}.pub"
    # Another key did not sign it.
    assert release("keygen", tmp_path / "other").code == 0  # type: ignore[attr-defined]
    wrong = release("verify", wheel, "--key", tmp_path / "other.pub")
    assert wrong.code == 1  # type: ignore[attr-defined]
    assert "is not validly signed by key" in wrong.out  # type: ignore[attr-defined]
    # The wheel's statements placed beside the sdist vouch for nothing.
    Path(f"{sdist}.intoto.jsonl").write_bytes(Path(f"{wheel}.intoto.jsonl").read_bytes())
    swapped = release("verify", sdist, "--key", pub)
    assert swapped.code == 1  # type: ignore[attr-defined]
    assert f"the attestation is for '{wheel.name}'" in swapped.out  # type: ignore[attr-defined]
    # One byte of the wheel changed.
    data = bytearray(wheel.read_bytes())
    data[100] ^= 0xFF
    wheel.write_bytes(bytes(data))
    flipped = release("verify", wheel, "--key", pub)
    assert flipped.code == 1  # type: ignore[attr-defined]
    assert "sha256 differs" in flipped.out  # type: ignore[attr-defined]
    # Only one of the two statements left: refused.
    first_line = Path(f"{sdist}.intoto.jsonl").read_text().splitlines()[0]
    Path(f"{sdist}.intoto.jsonl").write_text(first_line + "\n")
    assert release("verify", sdist, "--key", pub).code == 1  # type: ignore[attr-defined]
