"""A malformed policy file is unusable input: exit 2, one line, never a traceback.

The loader is fuzzed with hypothesis (wrong types, unknown keys) and the CLI is run on the
cases a person writes by mistake.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.verify.policy import PublisherPolicy, load_policy_file

DIST = "pypi_attestations-0.0.19.tar.gz"
GOOD = {"repository": "trailofbits/pypi-attestations", "workflow": "release.yml"}
TEXT_FIELDS = ("ref", "environment", "trigger", "runner_environment")
ID_FIELDS = ("repository_id", "owner_id")
KNOWN = {"repository", "workflow", *TEXT_FIELDS, *ID_FIELDS}


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for the printable text generated here
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
        )
    return repr(value)


def _write(path: Path, publisher: dict[str, object], top: dict[str, object] | None = None) -> Path:
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in (top or {}).items()]
    lines.append("[publisher]")
    lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in publisher.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=8)
WRONG_FOR_TEXT = st.one_of(
    st.integers(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False),
    st.lists(PRINTABLE, max_size=2), st.dictionaries(PRINTABLE, PRINTABLE, max_size=2),
)  # fmt: skip
WRONG_FOR_ID = st.one_of(
    st.booleans(), st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=2), st.dictionaries(PRINTABLE, PRINTABLE, max_size=2),
)  # fmt: skip


def _refused(release: Callable[..., Any], dist: Path, policy: Path, needle: str) -> None:
    """The CLI, in process: exit 2, nothing on stdout, one line naming the culprit."""
    ours = release("verify", dist, "--policy", policy)
    assert ours.code == 2, ours.out + ours.err
    assert ours.out == ""
    assert len(ours.err.strip().splitlines()) == 1, ours.err
    assert ours.err.startswith(f"error: {policy}: not a usable policy file")
    assert needle in ours.err


FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,  # nothing is written under the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


WRONG_TYPE = st.one_of(
    st.tuples(st.sampled_from(["repository", "workflow", *TEXT_FIELDS]), WRONG_FOR_TEXT),
    st.tuples(st.sampled_from(ID_FIELDS), WRONG_FOR_ID),
)


@FUZZ
@given(case=WRONG_TYPE)
def test_a_field_of_another_type_is_refused(
    release: Callable[..., Any], attestation_fixtures: Path, tmp_path: Path,
    case: tuple[str, object],
) -> None:  # fmt: skip
    field, value = case
    path = _write(tmp_path / "policy.toml", {**GOOD, field: value})
    _refused(release, attestation_fixtures / DIST, path, field)


@FUZZ
@given(
    key=st.from_regex(r"[a-z_]{1,12}", fullmatch=True).filter(lambda k: k not in KNOWN),
    value=st.one_of(PRINTABLE, st.integers(), st.booleans()),
    top=st.booleans(),
)
def test_an_unknown_key_is_refused(
    release: Callable[..., Any], attestation_fixtures: Path, tmp_path: Path, key: str,
    value: object, top: bool,
) -> None:  # fmt: skip
    if top and key in ("project", "publisher"):
        return
    extra = {key: value}
    publisher = GOOD if top else {**GOOD, **extra}
    path = _write(tmp_path / "policy.toml", publisher, extra if top else None)
    _refused(release, attestation_fixtures / DIST, path, key)


@FUZZ
@given(
    publisher=st.dictionaries(
        st.sampled_from(sorted(KNOWN)),
        st.one_of(PRINTABLE, st.integers(), st.booleans(), st.lists(PRINTABLE, max_size=2)),
    )
)
def test_the_loader_never_raises_anything_else(tmp_path: Path, publisher: dict[str, Any]) -> None:
    """Any mix of known keys and values: a policy, or one line of UsageError."""
    path = _write(tmp_path / "policy.toml", publisher)
    try:
        policy = load_policy_file(path)[1]
    except UsageError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(policy, PublisherPolicy)
        assert isinstance(policy.repository, str) and isinstance(policy.workflow, str)
        assert all(isinstance(getattr(policy, f), str | None) for f in (*TEXT_FIELDS, *ID_FIELDS))


BROKEN = {
    "ref = 5": '[publisher]\nrepository = "a/b"\nworkflow = "release.yml"\nref = 5\n',
    "unknown publisher key": (
        '[publisher]\nrepository = "a/b"\nworkflow = "release.yml"\nrefs = "refs/tags/*"\n'
    ),
    "unknown top-level key": 'projects = "x"\n[publisher]\nrepository = "a/b"\nworkflow = "w"\n',
    "workflow is a list": '[publisher]\nrepository = "a/b"\nworkflow = ["release.yml"]\n',
    "publisher is a string": 'publisher = "a/b"\n',
    "no publisher": 'project = "x"\n',
    "project is a number": 'project = 1\n[publisher]\nrepository = "a/b"\nworkflow = "w"\n',
    "repository is not OWNER/NAME": '[publisher]\nrepository = "a/b/c"\nworkflow = "w"\n',
    "empty workflow": '[publisher]\nrepository = "a/b"\nworkflow = ""\n',
    "not TOML": "[publisher\n",
    "a key with a line break": '[publisher]\nrepository = "a/b"\nworkflow = "w"\n"x\\ny" = 1\n',
    "forge contradicts the URL": (
        '[publisher]\nrepository = "https://gitlab.com/a/b\\n"\nworkflow = "w"\nforge = "github"\n'
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_cli_exits_2_with_one_line(
    release: Callable[..., Any], tmp_path: Path, attestation_fixtures: Path, case: str
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(BROKEN[case])
    _refused(release, attestation_fixtures / DIST, policy, "")


def test_cli_unreadable_policy_files(
    release: Callable[..., Any], tmp_path: Path, attestation_fixtures: Path
) -> None:
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[publisher]\n")
    for path in (binary, tmp_path / "missing.toml", tmp_path):
        ours = release("verify", attestation_fixtures / DIST, "--policy", path)
        assert ours.code == 2, ours.out + ours.err
        assert len(ours.err.strip().splitlines()) == 1, ours.err
        assert str(path) in ours.err


def test_cli_option_values_go_through_the_same_schema(
    release: Callable[..., Any], attestation_fixtures: Path
) -> None:
    ours = release("verify", attestation_fixtures / DIST, "--repository", "a/b",
                   "--workflow", "", "--trigger", "push")  # fmt: skip
    assert ours.code == 2, ours.out + ours.err
    assert len(ours.err.strip().splitlines()) == 1
    assert "workflow" in ours.err
