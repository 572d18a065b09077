"""The CycloneDX SBOM `release lock` writes: schema-valid, and it says what the locks say.

The schema check is cyclonedx-python-lib's strict JSON validator (CycloneDX 1.6, its bundled
schemas, every format checked) with one substitution: jsonschema checks `iri-reference` with
rfc3987-syntax's Earley parser, which takes minutes on the SBOM's ~400 file URLs, so that one
format is checked with rfc3986-validator's URI-reference rule (our URLs are ASCII, where the
two agree). The validator is shown to reject a damaged SBOM, so passing means something.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
from rfc3986_validator import validate_rfc3986

from dask_kubernetes_release.attest.key import envelope_lines, load_signer
from dask_kubernetes_release.cli import main
from dask_kubernetes_release.core.lockfiles import SBOM_NAME, TARGETS, pylock_name
from dask_kubernetes_release.core.lockpins import parse_pylock
from dask_kubernetes_release.core.statements import CYCLONEDX_BOM, statement
from dask_kubernetes_release.manifest.records import load_manifest

pytestmark = pytest.mark.slow


def validate(text: str) -> list[str]:
    strict = JsonStrictValidator(SchemaVersion.V1_6)._validator  # the lib's schema and registry
    checker = copy.deepcopy(strict.format_checker)
    assert checker is not None and "iri-reference" in checker.checkers
    checker.checks("iri-reference")(
        lambda value: not isinstance(value, str) or validate_rfc3986(value, "URI_reference")
    )
    errors = strict.evolve(format_checker=checker).iter_errors(json.loads(text))
    return [f"{list(error.absolute_path)}: {error.message}" for error in errors]


def sbom(locked_release: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((locked_release / SBOM_NAME).read_text())
    return data


def test_sbom_is_valid_cyclonedx_1_6(locked_release: Path) -> None:
    text = (locked_release / SBOM_NAME).read_text()
    assert validate(text) == []
    document = json.loads(text)
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == "1.6"
    # The validator has teeth: a hash that is no hash is rejected.
    document["components"][0]["externalReferences"][0]["hashes"][0]["content"] = "not-a-digest"
    (error,) = validate(json.dumps(document))
    assert "'not-a-digest' does not match" in error
    # ... and so is a URL that is no URL (the substituted format check).
    document = json.loads(text)
    document["components"][0]["externalReferences"][0]["url"] = "http://exa mple/\x00"
    (error,) = validate(json.dumps(document))
    assert error.startswith("['components', 0, 'externalReferences', 0, 'url']")


def test_root_is_our_release_with_its_file_digests(locked_release: Path) -> None:
    manifest = load_manifest(locked_release)
    root = sbom(locked_release)["metadata"]["component"]
    assert (root["name"], root["version"]) == (manifest.project, manifest.version)
    assert PackageURL.from_string(root["purl"]).to_dict() == {
        **PackageURL("pypi", name="dask-kubernetes", version=manifest.version).to_dict()
    }
    assert root["licenses"] == [{"expression": "BSD-3-Clause"}]
    digests = {ref["url"]: ref["hashes"][0]["content"] for ref in root["externalReferences"]}
    own = {r.filename: r.sha256 for r in manifest.files if r.filename.endswith((".whl", ".gz"))}
    assert digests == own and len(own) == 2


def test_one_component_per_locked_version_with_every_file_hash(locked_release: Path) -> None:
    locked: dict[tuple[str, str], set[str]] = {}
    for extra in TARGETS:
        lock = parse_pylock((locked_release / pylock_name(extra)).read_text(), "pylock")
        for package in lock.packages:
            if package.name == "dask-kubernetes":
                continue
            files = [*(package.wheels or ()), *([package.sdist] if package.sdist else [])]
            hashes = locked.setdefault((str(package.name), str(package.version)), set())
            hashes |= {str(f.hashes["sha256"]) for f in files}
    components = sbom(locked_release)["components"]
    found = {
        (c["name"], c["version"]): {r["hashes"][0]["content"] for r in c["externalReferences"]}
        for c in components
    }
    assert len(found) == len(components)  # one component per package version
    assert found == locked
    for component in components:
        purl = PackageURL.from_string(component["purl"])
        assert (purl.type, purl.name, purl.version) == (
            "pypi",
            component["name"],
            component["version"],
        )


@pytest.fixture
def attested(locked_release: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the locked release, attested with a throwaway key: (dir, public key)."""
    out = tmp_path / "dist"
    shutil.copytree(locked_release, out)
    key = tmp_path / "key"
    assert main(["keygen", str(key)]) == 0
    assert main(["attest", str(out), "--key", str(key)]) == 0
    return out, tmp_path / "key.pub"


def _dists(directory: Path) -> list[str]:
    return sorted(str(p) for p in directory.iterdir() if p.name.endswith((".whl", ".tar.gz")))


def test_attest_signs_the_sbom_and_verify_says_it_vouches_for_each_file(
    attested: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out, public = attested
    capsys.readouterr()
    assert main(["verify", *_dists(out), "--key", str(public), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["files"]
    assert len(report) == 2
    sbom = json.loads((out / SBOM_NAME).read_text())
    for entry in report:
        assert entry["verdict"] == "OK"
        assert CYCLONEDX_BOM in entry["predicate_types"]
        # which SBOM vouches for the file: its serial number and version
        assert entry["sboms"] == [f"{sbom['serialNumber']} v{sbom['version']}"]
    line = (Path(_dists(out)[0] + ".intoto.jsonl")).read_text().splitlines()[-1]
    payload = json.loads(base64.b64decode(json.loads(line)["payload"]))
    assert payload["predicateType"] == CYCLONEDX_BOM
    assert payload["predicate"] == json.loads((out / SBOM_NAME).read_text())


def test_a_signed_sbom_that_does_not_list_the_file_fails_verify(
    attested: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out, public = attested
    wheel = Path(next(p for p in _dists(out) if p.endswith(".whl")))
    sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
    other = json.loads((out / SBOM_NAME).read_text())
    for ref in other["metadata"]["component"]["externalReferences"]:
        ref["hashes"][0]["content"] = "0" * 64  # another build's SBOM
    lines = Path(f"{wheel}.intoto.jsonl").read_text().splitlines(keepends=True)
    signer = load_signer(out.parent / "key")
    forged = envelope_lines(signer, [statement(wheel.name, sha256, CYCLONEDX_BOM, other)])
    Path(f"{wheel}.intoto.jsonl").write_bytes("".join(lines[:2]).encode() + forged)
    capsys.readouterr()
    assert main(["verify", str(wheel), "--key", str(public)]) == 1
    assert "the SBOM's root component does not list" in capsys.readouterr().out


def test_attest_refuses_a_stale_sbom(
    locked_release: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dist"
    shutil.copytree(locked_release, out)
    document = json.loads((out / SBOM_NAME).read_text())
    document["metadata"]["component"]["externalReferences"] = []
    (out / SBOM_NAME).write_text(json.dumps(document))
    assert main(["keygen", str(tmp_path / "key")]) == 0
    assert main(["attest", str(out), "--key", str(tmp_path / "key")]) == 2
    assert "sbom.cdx.json does not list" in capsys.readouterr().err
    assert not list(out.glob("*.intoto.jsonl"))
