"""The lock files users install from are signed, and `check` reads every line of them.

A real build is locked (`release lock`, uv against the index), attested with a throwaway key
and listed again by `release manifest`, as the GitHub release job does. The attacker then
edits a lock file and runs `release manifest` again, so SHA256SUMS and manifest.json agree
with the edit: `verify DIR` (and `verify FILE` of the lock alone) must fail on the signature's
digest, and `check` on the content, which no longer matches the SBOM beside it.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dask_kubernetes_release.attest.key import envelope_lines, load_signer
from dask_kubernetes_release.core.digests import sha256_file
from dask_kubernetes_release.core.lockfiles import (
    LOCK_NAMES,
    PYLOCK_NAME,
    REQUIREMENTS_NAME,
    SBOM_NAME,
)
from dask_kubernetes_release.core.statements import CYCLONEDX_BOM, SLSA_PROVENANCE, statement

pytestmark = pytest.mark.slow

# aiohttp 3.8.0's sdist as PyPI serves it: a real, hash-pinned, older release.
AIOHTTP_380_SHA256 = "d3b19d8d183bcfd68b25beebab8dc3308282fe2ca3d6ea3cb4cd101b3c279f8d"
APPENDED = (
    "--extra-index-url http://127.0.0.1:9/simple\n"
    f"aiohttp==3.8.0 --hash=sha256:{AIOHTTP_380_SHA256}\n"
)

Run = Callable[..., Any]


@pytest.fixture
def signed(locked_release: Path, tmp_path: Path, release: Run) -> tuple[Path, Path]:
    """A copy of the locked release, attested with a throwaway key, its manifest rewritten."""
    out = tmp_path / "dist"
    shutil.copytree(locked_release, out)
    key = tmp_path / "key"
    assert release("keygen", key).code == 0
    attested = release("attest", out, "--key", key)
    assert attested.code == 0, attested.err
    assert release("manifest", out).code == 0
    return out, tmp_path / "key.pub"


def test_attest_signs_every_lock_file_and_verify_dir_checks_them(
    signed: tuple[Path, Path], release: Run
) -> None:
    out, public = signed
    for name in LOCK_NAMES:
        assert Path(f"{out / name}.intoto.jsonl").is_file(), name
    checked = release("check", out)
    assert checked.code == 0, checked.out
    result = release("verify", out, "--key", public)
    assert result.code == 0, result.out
    passed = {line.split()[1] for line in result.out.splitlines() if line.startswith("OK ")}
    assert set(LOCK_NAMES) <= passed
    assert any(name.endswith(".whl") for name in passed)


@pytest.mark.parametrize("name", [REQUIREMENTS_NAME, PYLOCK_NAME])
def test_verify_of_a_lock_file_alone(signed: tuple[Path, Path], release: Run, name: str) -> None:
    out, public = signed
    result = release("verify", out / name, "--key", public)
    assert result.code == 0, result.out
    assert result.out.startswith(f"OK {name}")
    with (out / name).open("a", encoding="utf-8") as lock:
        lock.write("\n")
    result = release("verify", out / name, "--key", public)
    assert result.code == 1
    assert f"FAIL {name}: the file's sha256 differs from the attested one" in result.out


def test_a_lock_published_under_its_projects_prefix_still_verifies(
    signed: tuple[Path, Path], release: Run, tmp_path: Path
) -> None:
    """release.yml attaches the verifier's locks as `PROJECT-requirements.txt` (the plain names
    are the project's): the signed name is recovered from the lock's own project, no other."""
    out, public = signed
    assets = tmp_path / "assets"
    assets.mkdir()
    for published in ("dask-kubernetes-requirements.txt", "someone-else-requirements.txt"):
        shutil.copy(out / REQUIREMENTS_NAME, assets / published)
        shutil.copy(f"{out / REQUIREMENTS_NAME}.intoto.jsonl", f"{assets / published}.intoto.jsonl")
    result = release("verify", assets, "--key", public)
    assert result.code == 1
    assert "OK dask-kubernetes-requirements.txt" in result.out
    assert (
        "FAIL someone-else-requirements.txt: the attestation is for 'requirements.txt'"
        in result.out
    )


def test_an_appended_index_and_pin_fail_check_and_verify(
    signed: tuple[Path, Path], release: Run
) -> None:
    out, public = signed
    with (out / REQUIREMENTS_NAME).open("a", encoding="utf-8") as lock:
        lock.write(APPENDED)
    assert release("manifest", out).code == 0  # SHA256SUMS and manifest.json follow the edit
    checked = release("check", out)
    assert checked.code == 1
    assert "--extra-index-url" in checked.out
    assert "aiohttp 3.8.0" in checked.out
    for target in (out, out / REQUIREMENTS_NAME):
        result = release("verify", target, "--key", public)
        assert result.code == 1
        assert f"FAIL {REQUIREMENTS_NAME}: the file's sha256 differs" in result.out


def _two_versions(pylock: str) -> tuple[str, str]:
    """pylock.toml with its first dependency listed a second time, at another version."""
    blocks = pylock.split("\n[[packages]]\n")
    first = blocks[1]
    name = re.search(r'^name = "([^"]+)"', first, re.MULTILINE)
    version = re.search(r'^version = "([^"]+)"', first, re.MULTILINE)
    assert name and version
    other = first.replace(version.group(1), "0.0.1")  # the version and its files' names
    return "\n[[packages]]\n".join([*blocks[:2], other, *blocks[2:]]), name.group(1)


def test_two_versions_of_a_package_in_pylock_fail_check_and_verify(
    signed: tuple[Path, Path], release: Run
) -> None:
    out, public = signed
    tampered, package = _two_versions((out / PYLOCK_NAME).read_text(encoding="utf-8"))
    (out / PYLOCK_NAME).write_text(tampered, encoding="utf-8")
    assert release("manifest", out).code == 0
    checked = release("check", out)
    assert checked.code == 1
    assert f"{package} 0.0.1 is not in sbom.cdx.json" in checked.out
    assert f"{package} is selected in 2 versions" in checked.out
    for target in (out, out / PYLOCK_NAME):
        result = release("verify", target, "--key", public)
        assert result.code == 1
        assert f"FAIL {PYLOCK_NAME}: the file's sha256 differs" in result.out


def test_a_signed_lock_that_disagrees_with_the_signed_sbom_fails(
    signed: tuple[Path, Path], release: Run
) -> None:
    """Even with the release key, a lock is held to the SBOM signed with it."""
    out, public = signed
    lock = out / REQUIREMENTS_NAME
    with lock.open("a", encoding="utf-8") as text:
        text.write(APPENDED)
    jsonl = Path(f"{lock}.intoto.jsonl")
    signer = load_signer(out.parent / "key")
    old = jsonl.read_text().splitlines()
    sbom = _signed_sbom(out)
    forged = envelope_lines(
        signer,
        [
            statement(lock.name, sha256_file(lock), SLSA_PROVENANCE, _slsa(old)),
            statement(lock.name, sha256_file(lock), CYCLONEDX_BOM, sbom),
        ],
    )
    jsonl.write_bytes(forged)
    result = release("verify", lock, "--key", public)
    assert result.code == 1
    assert "aiohttp 3.8.0 is not in the signed SBOM" in result.out


def _payloads(jsonl: Path) -> list[dict[str, Any]]:
    return [
        json.loads(base64.b64decode(json.loads(line)["payload"]))
        for line in jsonl.read_text().splitlines()
    ]


def _signed_sbom(out: Path) -> dict[str, Any]:
    (doc,) = [
        d
        for d in _payloads(Path(f"{out / REQUIREMENTS_NAME}.intoto.jsonl"))
        if d["predicateType"] == CYCLONEDX_BOM
    ]
    bom: dict[str, Any] = doc["predicate"]
    return bom


def _slsa(lines: list[str]) -> dict[str, Any]:
    for line in lines:
        doc = json.loads(base64.b64decode(json.loads(line)["payload"]))
        if doc["predicateType"] == SLSA_PROVENANCE:
            predicate: dict[str, Any] = doc["predicate"]
            return predicate
    raise AssertionError("no SLSA statement")


def test_a_removed_sbom_fails_check_even_after_manifest(
    signed: tuple[Path, Path], release: Run
) -> None:
    """Without the SBOM nothing holds the locks' lines: a locked release must keep it."""
    out, _ = signed
    (out / SBOM_NAME).unlink()
    Path(f"{out / SBOM_NAME}.intoto.jsonl").unlink()
    assert release("manifest", out).code == 0
    checked = release("check", out)
    assert checked.code == 1
    assert f"missing: {SBOM_NAME}: the lock files are checked against it" in checked.out
