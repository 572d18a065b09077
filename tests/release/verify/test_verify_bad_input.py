"""Unusable input exits 2 with one line on stderr, never a traceback; the parsers are fuzzed."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dask_kubernetes_release.core.files import MAX_EVIDENCE_BYTES

PYPI_ATT = "pypi_attestations-0.0.19.tar.gz"
POLICY = ("--repository", "trailofbits/pypi-attestations", "--workflow", "release.yml")


def _assert_usage_error(result: object, *needles: str) -> None:
    code, out, err = result.code, result.out, result.err  # type: ignore[attr-defined]
    assert code == 2, (out, err)
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err


@pytest.fixture
def dist(fixture_copy: Callable[..., Path]) -> Path:
    return fixture_copy(PYPI_ATT) / PYPI_ATT


@pytest.fixture
def real_attestation(attestation_fixtures: Path) -> dict[str, object]:
    path = attestation_fixtures / f"{PYPI_ATT}.publish.attestation"
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def _write(dist: Path, suffix: str, content: str | bytes) -> Path:
    path = Path(f"{dist}{suffix}")
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_missing_distribution(release: Callable[..., object], tmp_path: Path) -> None:
    _assert_usage_error(release("verify", tmp_path / "nope-1.0.tar.gz", *POLICY), "no such file")


def test_missing_evidence_file(release: Callable[..., object], dist: Path) -> None:
    result = release("verify", dist, "--attestation", dist.parent / "absent.attestation", *POLICY)
    _assert_usage_error(result, "absent.attestation", "no such file")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{", "not a PEP 740 attestation"),
        ('{"version": 1, "verification_material": ', "not a PEP 740 attestation"),
        ("[]", "not a PEP 740 attestation"),
        ("", "not a PEP 740 attestation"),
    ],
    ids=["garbled", "truncated", "wrong-shape", "empty"],
)
def test_garbled_attestation(
    release: Callable[..., object], dist: Path, content: str, needle: str
) -> None:
    _write(dist, ".publish.attestation", content)
    _assert_usage_error(release("verify", dist, *POLICY), needle)


def test_wrong_version(
    release: Callable[..., object], dist: Path, real_attestation: dict[str, object]
) -> None:
    _write(dist, ".publish.attestation", json.dumps({**real_attestation, "version": 2}))
    _assert_usage_error(release("verify", dist, *POLICY), "version")


def test_boolean_version(
    release: Callable[..., object], dist: Path, real_attestation: dict[str, object]
) -> None:
    """pydantic takes `true` for `Literal[1]`; PEP 740 says the integer 1 (found by the fuzz)."""
    _write(dist, ".publish.attestation", json.dumps({**real_attestation, "version": True}))
    _assert_usage_error(release("verify", dist, *POLICY), "version", "boolean")


def test_base64_garbage(
    release: Callable[..., object], dist: Path, real_attestation: dict[str, object]
) -> None:
    doc = json.loads(json.dumps(real_attestation))
    doc["verification_material"]["certificate"] = "%%%not base64%%%"
    _write(dist, ".publish.attestation", json.dumps(doc))
    _assert_usage_error(release("verify", dist, *POLICY), "certificate")


def test_certificate_that_is_not_x509(
    release: Callable[..., object], dist: Path, real_attestation: dict[str, object]
) -> None:
    doc = json.loads(json.dumps(real_attestation))
    doc["verification_material"]["certificate"] = base64.b64encode(b"hello").decode()
    _write(dist, ".publish.attestation", json.dumps(doc))
    _assert_usage_error(release("verify", dist, *POLICY), "unusable attestation")


def test_empty_transparency_entries(
    release: Callable[..., object], dist: Path, real_attestation: dict[str, object]
) -> None:
    doc = json.loads(json.dumps(real_attestation))
    doc["verification_material"]["transparency_entries"] = []
    _write(dist, ".publish.attestation", json.dumps(doc))
    _assert_usage_error(release("verify", dist, *POLICY), "transparency_entries")


def test_empty_bundle_list(release: Callable[..., object], dist: Path) -> None:
    _write(dist, ".provenance", json.dumps({"version": 1, "attestation_bundles": []}))
    _assert_usage_error(release("verify", dist, *POLICY), "holds no attestations")


def test_huge_evidence_is_refused_unread(release: Callable[..., object], dist: Path) -> None:
    path = Path(f"{dist}.provenance")
    with path.open("wb") as out:
        out.truncate(MAX_EVIDENCE_BYTES + 1)  # sparse: cheap to create, never read
    _assert_usage_error(release("verify", dist, *POLICY), "too large")


def test_garbled_jsonl_and_key(release: Callable[..., object], dist: Path, tmp_path: Path) -> None:
    assert release("keygen", tmp_path / "k").code == 0
    _write(dist, ".intoto.jsonl", '{"payload": "x"}\nnot json\n')
    _assert_usage_error(release("verify", dist, "--key", tmp_path / "k.pub"), ":1:")
    bad_key = _write(dist, ".pub", "-----BEGIN PUBLIC KEY-----\ngarbage\n")
    _assert_usage_error(release("verify", dist, "--key", bad_key), "public key")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("--workflow", "release.yml"), "needs --repository"),
        (("--repository", "not a repo", "--workflow", "x.yml"), "OWNER/NAME"),
        (("--identity", "a@b.c", "--repository", "o/n"), "cannot be combined"),
        (("--issuer", "https://x"), "--issuer needs --identity"),
        ((), "no policy"),
    ],
)
def test_bad_options(
    release: Callable[..., object],
    fixture_copy: Callable[..., Path],
    argv: tuple[str, ...],
    needle: str,
) -> None:
    where = fixture_copy(PYPI_ATT, f"{PYPI_ATT}.publish.attestation")
    _assert_usage_error(release("verify", where / PYPI_ATT, *argv), needle)


def test_not_a_distribution_name(release: Callable[..., object], tmp_path: Path) -> None:
    odd = tmp_path / "README.txt"
    odd.write_text("hi")
    _assert_usage_error(release("verify", odd, *POLICY), "distribution")


# ---- fuzzing -----------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _mutated_attestation(doc: dict[str, object]) -> st.SearchStrategy[str]:
    """Real attestations with one field replaced by junk, or truncated at any point."""
    text = json.dumps(doc)
    keys = ["version", "envelope", "verification_material"]
    replaced = st.tuples(st.sampled_from(keys), _json_values).map(
        lambda kv: json.dumps({**doc, kv[0]: kv[1]})
    )
    truncated = st.integers(0, len(text) - 1).map(lambda n: text[:n])
    return replaced | truncated


_FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_FUZZ
@given(data=st.data())
def test_fuzz_attestation_never_crashes(
    release: Callable[..., object],
    dist: Path,
    real_attestation: dict[str, object],
    data: st.DataObject,
) -> None:
    content = data.draw(
        _mutated_attestation(real_attestation)
        | st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
        | _json_values.map(json.dumps)
    )
    _write(dist, ".publish.attestation", content.encode("utf-8", "surrogateescape"))
    result = release("verify", dist, *POLICY)
    assert result.code in (1, 2), result.err  # type: ignore[attr-defined]
    assert "Traceback" not in result.err  # type: ignore[attr-defined]
    if result.code == 2:  # type: ignore[attr-defined]
        assert len(result.err.strip().splitlines()) == 1  # type: ignore[attr-defined]


@_FUZZ
@given(lines=st.lists(_json_values.map(json.dumps) | st.text(max_size=40), min_size=0, max_size=3))
def test_fuzz_jsonl_never_crashes(
    release: Callable[..., object], dist: Path, tmp_path: Path, lines: list[str]
) -> None:
    key = tmp_path / "fuzz-key"
    if not key.exists():
        assert release("keygen", key).code == 0
    _write(dist, ".intoto.jsonl", "\n".join(lines).encode("utf-8", "surrogateescape"))
    result = release("verify", dist, "--key", f"{key}.pub")
    assert result.code in (1, 2), result.err  # type: ignore[attr-defined]
    assert "Traceback" not in result.err  # type: ignore[attr-defined]


@_FUZZ
@given(
    publisher=_json_values,
    bundles=st.lists(_json_values, max_size=2),
    version=st.sampled_from([1, 2, "1", None]),
)
def test_fuzz_provenance_never_crashes(
    release: Callable[..., object],
    dist: Path,
    publisher: object,
    bundles: list[object],
    version: object,
) -> None:
    doc = {
        "version": version,
        "attestation_bundles": [{"publisher": publisher, "attestations": bundles}],
    }
    _write(dist, ".provenance", json.dumps(doc))
    result = release("verify", dist, *POLICY)
    assert result.code == 2, result.out  # type: ignore[attr-defined]
    assert len(result.err.strip().splitlines()) == 1  # type: ignore[attr-defined]


def _field_paths(doc: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found: list[tuple[object, ...]] = []
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    )
    for key, value in items:
        found.append((*prefix, key))
        found += _field_paths(value, (*prefix, key))
    return found


@_FUZZ
@given(data=st.data())
def test_fuzz_any_nested_field_never_crashes(
    release: Callable[..., object],
    dist: Path,
    real_attestation: dict[str, object],
    data: st.DataObject,
) -> None:
    """Any one field at any depth (log entry, proofs, envelope) replaced by junk."""
    doc = json.loads(json.dumps(real_attestation))
    path = data.draw(st.sampled_from(_field_paths(doc)))
    junk = data.draw(_json_values | st.sampled_from(["", "AAAA", "-1", "9" * 30]))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]  # type: ignore[index]
    parent[path[-1]] = junk  # type: ignore[index]
    _write(dist, ".publish.attestation", json.dumps(doc))
    identity = "https://github.com/trailofbits/pypi-attestations/.github/workflows/release.yml@refs/tags/v0.0.19"
    result = release("verify", dist, "--identity", identity)
    assert result.code in (1, 2), (path, result.out, result.err)  # type: ignore[attr-defined]
    assert "Traceback" not in result.err  # type: ignore[attr-defined]
