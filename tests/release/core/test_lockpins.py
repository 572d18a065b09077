"""core/lockpins.py: every line of a lock file is held to the SBOM, on small hand-made locks.

The real locks (uv's output for this project) are attacked in tests/release/verify/
test_verify_locks.py; these cases pin down each rule with a minimal lock and SBOM.
"""

from __future__ import annotations

from typing import Any

import pytest

from dask_kubernetes_release.core.lockpins import lock_problems, lock_root

OURS = "a" * 64
IDNA = "b" * 64
EVIL = "e" * 64


def _sbom(*components: tuple[str, str, str]) -> dict[str, Any]:
    def refs(sha256: str) -> list[dict[str, Any]]:
        hashes = [{"alg": "SHA-256", "content": sha256}]
        return [{"type": "distribution", "url": "x", "hashes": hashes}]

    return {
        "bomFormat": "CycloneDX",
        "metadata": {
            "component": {
                "name": "dask-kubernetes",
                "version": "2026.3.0",
                "externalReferences": refs(OURS),
            }
        },
        "components": [
            {"name": name, "version": version, "externalReferences": refs(sha256)}
            for name, version, sha256 in components
        ],
    }


SBOM = _sbom(("idna", "3.10", IDNA))
REQUIREMENTS = (
    f"dask-kubernetes==2026.3.0 --hash=sha256:{OURS}\n--find-links .\nidna==3.10 \\\n"
    f"    --hash=sha256:{IDNA}\n    # via anyio\n"
)


def _pylock(*packages: str) -> str:
    return 'lock-version = "1.0"\ncreated-by = "test"\n' + "".join(
        f"\n[[packages]]\n{package}\n" for package in packages
    )


def _wheel(name: str, version: str, sha256: str, marker: str | None = None) -> str:
    file = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    line = f'name = "{name}"\nversion = "{version}"\n'
    if marker:
        line += f"marker = {marker!r}\n"
    hashes = f'hashes = {{ sha256 = "{sha256}" }}'
    return line + f'wheels = [{{ name = "{file}", url = "https://x/{file}", {hashes} }}]'


def test_what_release_lock_writes_passes() -> None:
    assert lock_problems("requirements.txt", REQUIREMENTS, SBOM, "the SBOM") == []
    pylock = _pylock(_wheel("idna", "3.10", IDNA), _wheel("dask-kubernetes", "2026.3.0", OURS))
    assert lock_problems("pylock.toml", pylock, SBOM, "the SBOM") == []
    assert lock_root("requirements.txt", REQUIREMENTS) == "dask-kubernetes"


@pytest.mark.parametrize(
    ("appended", "problem"),
    [
        ("--extra-index-url http://127.0.0.1:9/simple\n", "option '--extra-index-url"),
        ("--index-url http://127.0.0.1:9/simple\n", "option '--index-url"),
        ("--trusted-host 127.0.0.1\n", "option '--trusted-host"),
        ("-f http://127.0.0.1:9/\n", "option '-f"),
        ("-r other.txt\n", "option '-r other.txt'"),
        (f"aiohttp==3.8.0 --hash=sha256:{EVIL}\n", "aiohttp 3.8.0 is not in the SBOM"),
        (f"idna==3.10 --hash=sha256:{EVIL}\n", "idna 3.10: hashes that the SBOM does not list"),
        ("six\n", "'six' is not pinned"),
        ("idna @ https://127.0.0.1:9/idna.whl\n", "is not pinned"),
        ("not a requirement ==\n", "cannot parse"),
    ],
)
def test_every_line_is_read(appended: str, problem: str) -> None:
    found = lock_problems("requirements.txt", REQUIREMENTS + appended, SBOM, "the SBOM")
    assert any(problem in line for line in found), found


def test_two_versions_in_one_environment_fail_and_split_by_markers_pass() -> None:
    sbom = _sbom(("idna", "3.10", IDNA), ("idna", "3.9", EVIL))
    both = _pylock(_wheel("idna", "3.10", IDNA), _wheel("idna", "3.9", EVIL))
    found = lock_problems("pylock.toml", both, sbom, "the SBOM")
    assert found == ["idna is selected in 2 versions on 3.10/linux-x86_64 (3.10, 3.9)"]
    split = _pylock(
        _wheel("idna", "3.10", IDNA, "python_version >= '3.11'"),
        _wheel("idna", "3.9", EVIL, "python_version < '3.11'"),
    )
    assert lock_problems("pylock.toml", split, sbom, "the SBOM") == []


def test_a_marker_we_never_write_is_a_problem_not_a_crash() -> None:
    pylock = _pylock(_wheel("idna", "3.10", IDNA, "'x' in extras"))
    found = lock_problems("pylock.toml", pylock, SBOM, "the SBOM")
    assert any("a marker we never write" in line for line in found), found


def test_the_sbom_file_must_be_the_signed_document() -> None:
    assert lock_problems("sbom.cdx.json", '{"bomFormat": "CycloneDX"}', SBOM, "the SBOM") == [
        "differs from the SBOM"
    ]
    assert lock_problems("sbom.cdx.json", "not json", SBOM, "the SBOM") == ["differs from the SBOM"]
