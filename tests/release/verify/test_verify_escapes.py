"""Control characters from evidence never reach the terminal raw.

PyPI's publisher record is not signed: an index (or anyone editing a provenance file) can put
`ESC[2K CR OK` in its `environment`, which on a terminal erases the line so far and prints
"OK" over a FAIL. `inspect` and `verify` must show such a value escaped (`\\x1b[2K\\rOK`);
`--json` keeps the exact value, escaped by JSON itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dask_kubernetes_release.core.printable import printable

SIGSTORE = "sigstore-3.6.1.tar.gz"
SIGSTORE_POLICY = ("--repository", "sigstore/sigstore-python", "--workflow", "release.yml")
HOSTILE = "\x1b[2K\rOK"
SHOWN = "\\x1b[2K\\rOK"


def _hostile_provenance(fixture_copy: Callable[..., Path]) -> Path:
    """The real sigstore provenance with its (unsigned) publisher record's environment edited."""
    where = fixture_copy(SIGSTORE, f"{SIGSTORE}.provenance")
    provenance = where / f"{SIGSTORE}.provenance"
    doc = json.loads(provenance.read_text())
    for group in doc["attestation_bundles"]:
        group["publisher"]["environment"] = HOSTILE
    provenance.write_text(json.dumps(doc))
    return where


def _raw_free(*texts: str) -> None:
    for text in texts:
        assert "\x1b" not in text and "\r" not in text


def test_printable_escapes_controls_and_keeps_text() -> None:
    assert printable(HOSTILE) == SHOWN
    assert printable("a\nb\u202ec") == "a\\nb\\u202ec"
    assert printable("dask-kubernetes 2026.3.0 ✓") == "dask-kubernetes 2026.3.0 ✓"


def test_inspect_escapes_the_publisher_record(
    release: Callable[..., Any], fixture_copy: Callable[..., Path]
) -> None:
    where = _hostile_provenance(fixture_copy)
    result = release("inspect", where / f"{SIGSTORE}.provenance")
    assert result.code == 0, result.err
    _raw_free(result.out, result.err)
    assert f"environment={SHOWN}" in result.out
    as_json = release("inspect", where / f"{SIGSTORE}.provenance", "--json")
    assert json.dumps(HOSTILE)[1:-1] in as_json.out  # the exact value, escaped by JSON
    _raw_free(as_json.out)


def test_verify_escapes_a_failure_and_a_pass(
    release: Callable[..., Any], fixture_copy: Callable[..., Path]
) -> None:
    where = _hostile_provenance(fixture_copy)
    failed = release(
        "verify", where / SIGSTORE, *SIGSTORE_POLICY, "--environment", "pypi",
        "--trust-index-publisher",
    )  # fmt: skip
    assert failed.code == 1
    _raw_free(failed.out, failed.err)
    assert failed.out.startswith(f"FAIL {SIGSTORE}: ")
    assert SHOWN in failed.out
    passed = release(
        "verify", where / SIGSTORE, *SIGSTORE_POLICY, "--environment", HOSTILE,
        "--trust-index-publisher",
    )  # fmt: skip
    assert passed.code == 0, passed.out + passed.err
    _raw_free(passed.out, passed.err)
    assert f"    environment: {SHOWN}  (unsigned: provenance publisher record)" in passed.out
    report = json.loads(
        release(
            "verify",
            where / SIGSTORE,
            *SIGSTORE_POLICY,
            "--environment",
            HOSTILE,
            "--trust-index-publisher",
            "--json",
        ).out
    )
    assert report["files"][0]["provenance"]["environment"] == HOSTILE
