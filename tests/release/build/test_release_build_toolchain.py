"""`release build` records its exact toolchain in `build-toolchain.json` (from pip's reports),
the cached build environment keeps that record, and a damaged record is refused in one line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dask_kubernetes_release.build.env import _reported
from dask_kubernetes_release.build.toolchain import FROM_LOCK, FROM_PIP_REPORT, read_record
from dask_kubernetes_release.core.dists import TOOLCHAIN_NAME
from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.core.requirements import LockedPackage, read_lock

TwoBuilds = tuple[list[Path], list[Path]]


def _record(build: list[Path]) -> dict[str, object]:
    data = json.loads((build[0].parent / TOOLCHAIN_NAME).read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.slow
def test_build_writes_one_exact_artefact_per_backend_package(
    two_builds: TwoBuilds, repo_root: Path
) -> None:
    record = read_record(two_builds[0][0].parent / TOOLCHAIN_NAME)
    assert record is not None
    lock = read_lock(repo_root / "release" / "requirements.lock")
    assert record.distributions == {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in two_builds[0]
    }
    by_name = {a.name: a for a in record.packages}
    assert {"build", "hatchling", "hatch-vcs", "packaging", "pluggy"} <= set(by_name)
    for artefact in record.packages:
        locked = lock[artefact.name]  # type: ignore[index]
        assert artefact.version == locked.version
        if artefact.name == "build":  # the frontend: no install report exists for it
            assert artefact.sha256 is None and artefact.recorded_by == FROM_LOCK
            assert {f"sha256:{h}" for h in artefact.locked_sha256} == set(locked.hashes)
            continue
        assert artefact.recorded_by == FROM_PIP_REPORT
        assert f"sha256:{artefact.sha256}" in locked.hashes
        assert artefact.filename.endswith("-py3-none-any.whl")  # --only-binary :all:


@pytest.mark.slow
def test_a_reused_build_env_records_the_same_toolchain(two_builds: TwoBuilds) -> None:
    """The second build reuses the cached environment; its record comes from the cache."""
    first, second = (_record(build) for build in two_builds)
    assert first["packages"] == second["packages"]
    assert first["distributions"] == second["distributions"]  # identical bytes, too


def test_pip_report_naming_an_artefact_the_lock_lacks_is_refused(tmp_path: Path) -> None:
    hatchling = LockedPackage("hatchling", "1.33.0", ("sha256:" + "a" * 64,))  # type: ignore[arg-type]
    report = tmp_path / "report.json"

    def reporting(sha256: str) -> Path:
        item = {
            "metadata": {"name": "hatchling", "version": "1.33.0"},
            "download_info": {
                "url": "https://files.example/hatchling-1.33.0-py3-none-any.whl",
                "archive_info": {"hashes": {"sha256": sha256}},
            },
        }
        report.write_text(json.dumps({"version": "1", "install": [item]}))
        return report

    (ok,) = _reported(reporting("a" * 64), {hatchling.name: hatchling})
    assert (ok.sha256, ok.filename) == ("a" * 64, "hatchling-1.33.0-py3-none-any.whl")
    with pytest.raises(UsageError, match=r"pip installed hatchling b{64} against the lock"):
        _reported(reporting("b" * 64), {hatchling.name: hatchling})
    report.write_text(json.dumps({"version": "1", "install": []}))
    with pytest.raises(UsageError, match="report lacks hatchling"):
        _reported(report, {hatchling.name: hatchling})


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"_type": "other"}', None],
    ids=["garbled", "list", "foreign", "bad-digest"],
)
def test_unusable_record_is_a_usage_error(tmp_path: Path, text: str | None) -> None:
    path = tmp_path / TOOLCHAIN_NAME
    if text is None:
        good = {
            "_type": "https://github.com/dask/dask-kubernetes/blob/main/docs/VERIFYING.md"
            "#build-toolchain",
            "distributions": {"x.whl": "0" * 64},
            "packages": [{"name": "hatchling", "version": "1", "sha256": "NOT-HEX"}],
        }
        text = json.dumps(good)
    path.write_text(text)
    with pytest.raises(UsageError, match=TOOLCHAIN_NAME):
        read_record(path)
    assert read_record(tmp_path / "absent.json") is None
