"""The local Sigstore's build cache: found only for the committed pins, and failing closed when a
binary changed after it was built (no Go runs here: a stand-in entry is laid out by hand)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dask_kubernetes_release.localsigstore import build

ROOT = Path(__file__).resolve().parents[3]


def _entry(tmp_path: Path, module: Path) -> Path:
    """A cache entry as `build` writes it, for this machine and `module`'s go.mod/go.sum."""
    go, platform = "go1.26.8", build.host_platform()
    key = build.cache_key(module, go, platform)
    entry = tmp_path / "cache" / f"sigstore_{go}_{key[:16]}"
    (entry / "bin").mkdir(parents=True)
    binaries = {}
    for name in build.BINARIES:
        (entry / "bin" / name).write_bytes(f"#!{name}\n".encode())
        binaries[name] = {"sha256": build.sha256_file(entry / "bin" / name)}
    manifest = {"go": go, "platform": platform, "key": key, "binaries": binaries}
    (entry / build.MANIFEST).write_text(json.dumps(manifest))
    return entry


@pytest.fixture
def module(tmp_path: Path) -> Path:
    copy = tmp_path / "tools-sigstore"
    copy.mkdir()
    for name in ("go.mod", "go.sum"):
        shutil.copy(ROOT / "tools" / "sigstore" / name, copy / name)
    return copy


def test_an_entry_for_these_pins_is_found(tmp_path: Path, module: Path) -> None:
    entry = _entry(tmp_path, module)
    found = build.find_built(module, tmp_path / "cache")
    assert found is not None and found.directory == entry
    assert found.path("fulcio") == entry / "bin" / "fulcio"


def test_other_pins_find_nothing(tmp_path: Path, module: Path) -> None:
    _entry(tmp_path, module)
    (module / "go.sum").write_text((module / "go.sum").read_text() + "\n")
    assert build.find_built(module, tmp_path / "cache") is None
    assert build.find_built(module, tmp_path / "no-cache-here") is None


def test_a_changed_binary_fails_closed(tmp_path: Path, module: Path) -> None:
    entry = _entry(tmp_path, module)
    (entry / "bin" / "rekor-server").write_bytes(b"#!something else\n")
    with pytest.raises(build.BuildError, match="rekor-server has sha256"):
        build.find_built(module, tmp_path / "cache")


def test_the_committed_module_pins_the_versions_the_issue_names() -> None:
    text = (ROOT / "tools" / "sigstore" / "go.mod").read_text()
    for pin in (
        "github.com/sigstore/fulcio v1.8.8",
        "github.com/sigstore/rekor-tiles/v2 v2.3.0",
        "github.com/transparency-dev/tesseract v0.1.1",
        "github.com/sigstore/timestamp-authority/v2 v2.1.3",
    ):
        assert pin in text
    assert set(build.PACKAGES.values()) <= set(text.split())
