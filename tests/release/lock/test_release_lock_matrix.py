"""The lock's markers, checked on every supported Python and platform (no network here).

Attacks: a requirements file whose markers select two versions of one package, a pylock file
with no installable file for one Python, and the two files disagreeing; a wheel declaring an
extra nobody decided about. The real lock (one shared `release lock` run) passes for 3.10-3.13.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.pylock import Pylock

from dask_kubernetes_release.cli import main
from dask_kubernetes_release.core.errors import CheckFailed
from dask_kubernetes_release.core.lockfiles import pylock_name, requirements_name
from dask_kubernetes_release.core.lockpins import parse_pylock
from dask_kubernetes_release.core.matrix import (
    PLATFORMS,
    PYTHONS,
    check_matrix,
    environment,
    requirement_pins,
)

DIGEST = "ab" * 32


def wheel_entry(filename: str) -> dict[str, Any]:
    return {
        "name": filename,
        "url": f"https://example.invalid/{filename}",
        "hashes": {"sha256": DIGEST},
    }


def lock(*packages: dict[str, Any]) -> Pylock:
    return Pylock.from_dict(
        {"lock-version": "1.0", "created-by": "test", "packages": list(packages)}
    )


SPLIT_REQUIREMENTS = f"""\
foo==1.0 ; python_full_version < '3.12' \\
    --hash=sha256:{DIGEST}
foo==2.0 ; python_full_version >= '3.12' \\
    --hash=sha256:{DIGEST}
"""
SPLIT_LOCK = lock(
    {
        "name": "foo",
        "version": "1.0",
        "marker": "python_full_version < '3.12'",
        "wheels": [wheel_entry("foo-1.0-py3-none-any.whl")],
    },
    {
        "name": "foo",
        "version": "2.0",
        "marker": "python_full_version >= '3.12'",
        "wheels": [wheel_entry("foo-2.0-py3-none-any.whl")],
    },
)


def test_markers_that_split_by_python_pass_everywhere() -> None:
    pairs = check_matrix("requirements.txt", SPLIT_REQUIREMENTS, SPLIT_LOCK)
    assert len(pairs) == len(PYTHONS) * len(PLATFORMS) == 20
    assert requirement_pins(SPLIT_REQUIREMENTS, environment((3, 10), PLATFORMS[0])) == {
        "foo": "1.0"
    }
    assert requirement_pins(SPLIT_REQUIREMENTS, environment((3, 13), PLATFORMS[-1])) == {
        "foo": "2.0"
    }


def test_two_versions_selected_at_once_fail() -> None:
    overlapping = SPLIT_REQUIREMENTS.replace(
        "python_full_version >= '3.12'", "python_full_version >= '3.10'"
    )
    with pytest.raises(CheckFailed, match=r"on 3.10/linux-x86_64: foo is selected twice"):
        check_matrix("requirements.txt", overlapping, SPLIT_LOCK)


def test_a_python_without_an_installable_file_fails() -> None:
    only_313 = lock(
        {
            "name": "foo",
            "version": "2.0",
            "wheels": [wheel_entry("foo-2.0-cp313-cp313-win_amd64.whl")],
        }
    )
    with pytest.raises(CheckFailed, match=r"3.10/linux-x86_64: .*foo"):
        check_matrix("requirements.txt", f"foo==2.0 --hash=sha256:{DIGEST}\n", only_313)


def test_requirements_and_pylock_must_agree() -> None:
    other = SPLIT_REQUIREMENTS.replace("foo==1.0", "foo==1.1")
    with pytest.raises(CheckFailed, match=r"pylock and requirements differ.*1\.1"):
        check_matrix("requirements.txt", other, SPLIT_LOCK)


def test_an_undecided_extra_stops_the_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = tmp_path / "dask_kubernetes-2026.3.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            "dask_kubernetes-2026.3.0.dist-info/METADATA",
            "Metadata-Version: 2.4\nName: dask-kubernetes\nVersion: 2026.3.0\n"
            "Provides-Extra: local\nProvides-Extra: gpu\n",
        )
    assert main(["lock", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "declares extras neither locked nor excluded: gpu" in err and err.count("\n") == 1
    assert not (tmp_path / "requirements.txt").exists()


def test_an_invalid_pylock_is_refused() -> None:
    with pytest.raises(Exception, match="not a valid PEP 751 lock"):
        parse_pylock('lock-version = "1.0"\n', "pylock.toml")


@pytest.mark.slow
@pytest.mark.parametrize("extra", [None, "local"], ids=lambda e: e or "base")
def test_the_real_lock_holds_on_every_python_and_platform(
    extra: str | None, locked_release: Path
) -> None:
    requirements = (locked_release / requirements_name(extra)).read_text()
    parsed = parse_pylock((locked_release / pylock_name(extra)).read_text(), pylock_name(extra))
    pairs = check_matrix(requirements_name(extra), requirements, parsed)
    assert "3.10/linux-x86_64" in pairs and "3.13/windows-amd64" in pairs and len(pairs) == 20
    on_310 = requirement_pins(requirements, environment((3, 10), PLATFORMS[0]))
    on_313 = requirement_pins(requirements, environment((3, 13), PLATFORMS[0]))
    assert {"dask", "distributed", "kopf", "kr8s"} <= set(on_310) & set(on_313)
    # The universal lock really is universal: backports only where the Python lacks them.
    assert "exceptiongroup" in on_310 and "exceptiongroup" not in on_313
