"""`release check DIR`: every mismatch, missing and unlisted file; bad manifests are exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dask_kubernetes_release.cli import main
from dask_kubernetes_release.manifest.check import check_directory
from dask_kubernetes_release.manifest.command import write_manifest

MakeDist = Callable[..., Path]  # the conftest fixture: a small real wheel or sdist

WHEEL = "dask_kubernetes-2026.3.0-py3-none-any.whl"
SDIST = "dask_kubernetes-2026.3.0.tar.gz"


@pytest.fixture
def listed(fake_release: Path) -> Path:
    write_manifest(fake_release)
    return fake_release


def flip_one_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_clean_directory_passes(listed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(listed)]) == 0
    out = capsys.readouterr().out
    assert "ok: 2 file(s) match" in out and WHEEL in out and SDIST in out


def test_reports_changed_byte_missing_and_extra_files_together(
    listed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flip_one_byte(listed / WHEEL)
    (listed / SDIST).unlink()
    (listed / "dask_kubernetes-2026.3.0-py2-none-any.whl").write_bytes(b"extra")

    report = check_directory(listed)
    kinds = sorted((p.kind, p.filename) for p in report.problems)
    assert kinds == [
        ("mismatch", WHEEL),
        ("mismatch", WHEEL),  # against manifest.json and against SHA256SUMS
        ("missing", SDIST),
        ("unlisted", "dask_kubernetes-2026.3.0-py2-none-any.whl"),
    ]
    wheel_problem = next(p for p in report.problems if p.kind == "mismatch")
    assert "sha256, md5, blake2b_256" in wheel_problem.detail
    assert "size" not in wheel_problem.detail  # one byte changed, not the length

    assert main(["check", str(listed)]) == 1
    out, err = capsys.readouterr()
    assert out.count("mismatch:") == 2 and "missing:" in out and "unlisted:" in out
    assert err == f"error: 4 problem(s) in {listed}\n"


def test_sums_and_requirements_must_agree_with_manifest(listed: Path) -> None:
    sums = (listed / "SHA256SUMS").read_text().replace(WHEEL, "other-1.0.tar.gz")
    (listed / "SHA256SUMS").write_text(sums)
    requirements = (listed / "requirements.txt").read_text()
    (listed / "requirements.txt").write_text(requirements.replace("2026.3.0", "2026.3.1"))
    problems = {(p.kind, p.filename) for p in check_directory(listed).problems}
    assert problems == {
        ("inconsistent", "other-1.0.tar.gz"),
        ("inconsistent", WHEEL),
        ("inconsistent", "requirements.txt"),
    }


@pytest.mark.parametrize(
    "appended",
    [
        "--extra-index-url http://127.0.0.1:9/simple\n",
        "--trusted-host 127.0.0.1\n",
        "-f http://127.0.0.1:9/wheels\n",
        # aiohttp 3.8.0's sdist, by its real PyPI sha256
        "aiohttp==3.8.0 --hash=sha256:"
        "d3b19d8d183bcfd68b25beebab8dc3308282fe2ca3d6ea3cb4cd101b3c279f8d\n",
    ],
)
def test_every_line_of_requirements_is_checked(
    listed: Path, appended: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before `release lock`, requirements.txt holds our own line and nothing else."""
    with (listed / "requirements.txt").open("a", encoding="utf-8") as requirements:
        requirements.write(appended)
    problems = [(p.kind, p.filename) for p in check_directory(listed).problems]
    assert problems == [("inconsistent", "requirements.txt")]
    capsys.readouterr()
    assert main(["check", str(listed)]) == 1
    assert appended.split()[0] in capsys.readouterr().out


Document = dict[str, Any]


def test_a_forged_sums_line_is_a_mismatch(listed: Path) -> None:
    lines = (listed / "SHA256SUMS").read_text().splitlines(keepends=True)
    lines[0] = "0" * 64 + lines[0][64:]
    (listed / "SHA256SUMS").write_text("".join(lines))
    (problem,) = check_directory(listed).problems
    assert (problem.kind, problem.filename) == ("mismatch", WHEEL)
    assert problem.detail == "sha256 differs from SHA256SUMS"


def _rewrite(manifest: Path, change: Callable[[Document], None]) -> None:
    document = json.loads(manifest.read_text())
    change(document)
    manifest.write_text(json.dumps(document))


def _set_first_name(name: str) -> Callable[[Document], None]:
    return lambda d: d["files"][0].__setitem__("filename", name)


BAD_MANIFESTS: dict[str, Callable[[Path], object]] = {
    "truncated": lambda p: p.write_text(p.read_text()[:40]),
    "garbled": lambda p: p.write_bytes(b"\xff\xfe not json"),
    "not an object": lambda p: p.write_text("[]"),
    "unknown schema version": lambda p: _rewrite(p, lambda d: d.__setitem__("version", 2)),
    "path separator": lambda p: _rewrite(p, _set_first_name("../" + WHEEL)),
    "dot dot": lambda p: _rewrite(p, _set_first_name("..")),
    "newline": lambda p: _rewrite(p, _set_first_name(WHEEL + "\nx.whl")),
    "absolute": lambda p: _rewrite(p, _set_first_name("/etc/passwd")),
    "bad digest": lambda p: _rewrite(p, lambda d: d["files"][0].__setitem__("md5", "zz")),
    "attestations not a list": lambda p: _rewrite(p, lambda d: d.__setitem__("attestations", {})),
    "attestation of nothing listed": lambda p: _rewrite(
        p,
        lambda d: d.__setitem__(
            "attestations", [{**d["files"][0], "filename": "x.whl.intoto.jsonl"}]
        ),
    ),
}


@pytest.mark.parametrize("label", sorted(BAD_MANIFESTS))
def test_bad_manifest_is_one_line_exit_2(
    listed: Path, label: str, capsys: pytest.CaptureFixture[str]
) -> None:
    BAD_MANIFESTS[label](listed / "manifest.json")
    assert main(["check", str(listed)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err


@pytest.mark.parametrize(
    "content", ["not a sums line\n", f"{'0' * 64}  ../{WHEEL}\n", f"{'0' * 64}  a\\b\n"]
)
def test_bad_sums_file_is_exit_2(
    listed: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (listed / "SHA256SUMS").write_text(content)
    assert main(["check", str(listed)]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_symlink_out_of_the_directory_is_exit_2(
    listed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "elsewhere.bin"
    outside.write_bytes(b"secret")
    (listed / "dask_kubernetes-2026.3.0-py2-none-any.whl").symlink_to(outside)
    assert main(["check", str(listed)]) == 2
    assert "symlink leads outside" in capsys.readouterr().err


COMPANIONS = ("manifest.json", "SHA256SUMS", "requirements.txt")


@pytest.mark.parametrize("companion", COMPANIONS)
def test_each_missing_companion_fails_the_check(
    listed: Path, companion: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (listed / companion).unlink()
    problems = {(p.kind, p.filename) for p in check_directory(listed).problems}
    assert ("missing", companion) in problems
    assert main(["check", str(listed)]) == 1
    out, err = capsys.readouterr()
    assert f"missing: {companion}: companion file" in out
    assert len(err.splitlines()) == 1 and err.startswith("error: ")


def test_every_missing_companion_is_reported_at_once(listed: Path) -> None:
    for companion in COMPANIONS:
        (listed / companion).unlink()
    problems = sorted((p.kind, p.filename) for p in check_directory(listed).problems)
    assert problems == sorted(("missing", name) for name in COMPANIONS)


def test_a_companion_replaced_by_a_directory_is_missing(listed: Path) -> None:
    (listed / "requirements.txt").unlink()
    (listed / "requirements.txt").mkdir()
    assert ("missing", "requirements.txt") in {
        (p.kind, p.filename) for p in check_directory(listed).problems
    }


ATTESTATIONS = (f"{WHEEL}.intoto.jsonl", f"{SDIST}.intoto.jsonl", f"{WHEEL}.publish.attestation")


@pytest.fixture
def attested(fake_release: Path) -> Path:
    """A release whose manifest was written after its attestations: it lists them."""
    for name in ATTESTATIONS:
        (fake_release / name).write_text(f'{{"fake attestation": "{name}"}}\n')
    manifest = write_manifest(fake_release)
    assert [record.filename for record in manifest.attestations] == sorted(
        ATTESTATIONS, key=lambda n: (not n.startswith(WHEEL), n)
    )
    return fake_release


def test_listed_attestations_are_checked(
    attested: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(attested)]) == 0
    assert "ok: 5 file(s) match" in capsys.readouterr().out
    sums = (attested / "SHA256SUMS").read_text()
    assert all(name in sums for name in ATTESTATIONS)


@pytest.mark.parametrize("attestation", ATTESTATIONS)
def test_each_missing_attestation_fails_the_check(attested: Path, attestation: str) -> None:
    (attested / attestation).unlink()
    problems = [(p.kind, p.filename) for p in check_directory(attested).problems]
    assert problems == [("missing", attestation)]
    assert main(["check", str(attested)]) == 1


def test_a_changed_attestation_fails_the_check(attested: Path) -> None:
    (attested / ATTESTATIONS[0]).write_text('{"forged": true}\n')
    kinds = [(p.kind, p.filename) for p in check_directory(attested).problems]
    assert kinds == [("mismatch", ATTESTATIONS[0]), ("mismatch", ATTESTATIONS[0])]


def test_a_relisted_wheel_whose_metadata_disagrees_fails_the_check(
    listed: Path, make_dist: MakeDist
) -> None:
    # Whoever can rewrite every companion still cannot make check accept a file whose own
    # METADATA names another version: the contents are read, not just hashed.
    make_dist(
        listed, WHEEL, version="2026.9.9", member="dask_kubernetes-2026.3.0.dist-info/METADATA"
    )
    write_manifest_unchecked(listed)
    problems = [(p.kind, p.filename) for p in check_directory(listed).problems]
    assert problems == [("refused", WHEEL)]
    assert main(["check", str(listed)]) == 1


def write_manifest_unchecked(directory: Path) -> None:
    """Rewrite manifest.json, SHA256SUMS and requirements.txt for the files as they are now,
    bypassing the metadata check (what an attacker with write access could do)."""
    from dask_kubernetes_release.manifest.outputs import render_requirements, render_sums
    from dask_kubernetes_release.manifest.records import Manifest, record_file

    files = tuple(record_file(directory / name) for name in (WHEEL, SDIST))
    manifest = Manifest("dask-kubernetes", "2026.3.0", files)
    (directory / "manifest.json").write_text(manifest.dumps())
    (directory / "SHA256SUMS").write_text(render_sums(files))
    (directory / "requirements.txt").write_text(render_requirements(manifest))
