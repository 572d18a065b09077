"""The recorded-RBAC check judges the session's audit only when the whole operator suite ran.

A partial selection (one file, -k, --deselect) must send it to a child run of the whole suite,
never to a verdict on a partial exercise; and conftest.py runs it after every other test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from operator_rbac import RECORDED_RBAC_FILE, SuiteSelection

HERE = Path(__file__).resolve().parent


def test_the_whole_directory_is_whole(tmp_path: Path) -> None:
    files = {tmp_path / "test_a.py", tmp_path / "test_b.py"}
    for path in files:
        path.write_text("")
    assert SuiteSelection(files=set(files)).is_whole(tmp_path)


def test_a_missing_file_or_a_deselected_test_is_partial(tmp_path: Path) -> None:
    files = {tmp_path / "test_a.py", tmp_path / "test_b.py"}
    for path in files:
        path.write_text("")
    assert not SuiteSelection(files={tmp_path / "test_a.py"}).is_whole(tmp_path)
    assert not SuiteSelection(files=set(files), deselected=True).is_whole(tmp_path)


def test_the_recorded_check_runs_last(request: pytest.FixtureRequest) -> None:
    assert (HERE / RECORDED_RBAC_FILE).is_file()
    names = [item.path.name for item in request.session.items]
    if RECORDED_RBAC_FILE in names:
        assert names[-1] == RECORDED_RBAC_FILE, names[-5:]
