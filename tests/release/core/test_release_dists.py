"""Distribution discovery and file-name handling shared by every release command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from packaging.version import Version

from dask_kubernetes_release.core.dists import (
    find_distributions,
    normalized_filename,
    parse_distribution_name,
    same_distribution,
)
from dask_kubernetes_release.core.errors import UsageError

WHEEL = "dask_kubernetes-2026.3.0-py3-none-any.whl"
SDIST = "dask_kubernetes-2026.3.0.tar.gz"


def test_parses_wheel_and_sdist_names() -> None:
    wheel = parse_distribution_name(WHEEL)
    assert (wheel.project, wheel.version, wheel.python_tag, wheel.kind) == (
        "dask-kubernetes",
        Version("2026.3.0"),
        "py3",
        "wheel",
    )
    sdist = parse_distribution_name(SDIST)
    assert (sdist.python_tag, sdist.kind) == ("source", "sdist")


@pytest.mark.parametrize(
    "name", ["README.md", "dask_kubernetes.whl", "x-1.0-py3-none.whl", "a-b-c-d-e-f-g.whl"]
)
def test_refuses_names_that_are_not_distributions(name: str) -> None:
    with pytest.raises(UsageError):
        parse_distribution_name(name)


def test_normalises_names_as_pypi_does() -> None:
    assert normalized_filename("Dask.Kubernetes-2026.03.0-py3-none-any.whl") == WHEEL
    assert normalized_filename("dask_kubernetes-2026.03.00.tar.gz") == SDIST
    assert same_distribution("Dask.Kubernetes-2026.03.0-py3-none-any.whl", WHEEL)
    assert not same_distribution(WHEEL, SDIST)
    assert not same_distribution(WHEEL, "dask_kubernetes-2026.3.1-py3-none-any.whl")
    # A build tag is part of the name: kept, not silently dropped.
    built = "dask_kubernetes-2026.3.0-1-py3-none-any.whl"
    assert normalized_filename(built) == built


def test_finds_distributions_sorted_and_skips_companions(tmp_path: Path) -> None:
    for name in (WHEEL, SDIST):
        (tmp_path / name).write_bytes(b"x")
    companions = [
        "manifest.json",
        "SHA256SUMS",
        "requirements.txt",
        "build-toolchain.json",
        f"{WHEEL}.publish.attestation",
        f"{SDIST}.intoto.jsonl",
        "local-attestation-key.pub",
        ".manifest.json.abc.tmp",
    ]
    for name in companions:
        (tmp_path / name).write_text("{}")
    (tmp_path / "subdir").mkdir()
    os.symlink(tmp_path / WHEEL, tmp_path / "dask_kubernetes-2026.3.0-py2.py3-none-any.whl")
    found = [p.name for p in find_distributions(tmp_path)]
    assert found == sorted([WHEEL, SDIST, "dask_kubernetes-2026.3.0-py2.py3-none-any.whl"])


def test_refuses_missing_empty_foreign_and_escaping_entries(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        find_distributions(tmp_path / "nope")
    with pytest.raises(UsageError, match="no distributions"):
        find_distributions(tmp_path)
    assert find_distributions(tmp_path, allow_empty=True) == []
    (tmp_path / WHEEL).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UsageError, match=r"not a distribution: .*notes\.txt"):
        find_distributions(tmp_path)
    (tmp_path / "notes.txt").unlink()
    outside = tmp_path.parent / f"{tmp_path.name}-outside.tar.gz"
    outside.write_bytes(b"y")
    os.symlink(outside, tmp_path / SDIST)
    with pytest.raises(UsageError, match="symlink leads outside"):
        find_distributions(tmp_path)


def test_refuses_a_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(UsageError, match="symlink loop"):
        find_distributions(tmp_path)
