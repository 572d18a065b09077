"""`verify NAME==VERSION --index-url URL`: fetch, check, verify, and keep only what passes.

A real HTTP index on 127.0.0.1 (index_server.py) serves the real PyPI fixtures the way PyPI
does; each attack edits what it serves. No mocks: the download, the hash check, the provenance
fetch and the Sigstore verification are the product's own code paths.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from index_server import SIMPLE_JSON, Index, Served, Trickle, serving

SIGSTORE = "sigstore-3.6.1.tar.gz"
PYPI_ATT = "pypi_attestations-0.0.19.tar.gz"
SIGSTORE_POLICY = ("--repository", "sigstore/sigstore-python", "--workflow", "release.yml")
TOB_POLICY = ("--repository", "trailofbits/pypi-attestations", "--workflow", "release.yml")


def _served(fixtures: Path, name: str, **changes: object) -> Served:
    provenance = (fixtures / f"{name}.provenance").read_bytes()
    served = Served(name, (fixtures / name).read_bytes(), provenance)
    for key, value in changes.items():
        setattr(served, key, value)
    return served


@pytest.fixture
def index(attestation_fixtures: Path) -> Index:
    made = Index()
    made.add("sigstore", "3.6.1", _served(attestation_fixtures, SIGSTORE))
    made.add("pypi-attestations", "0.0.19", _served(attestation_fixtures, PYPI_ATT))
    return made


@pytest.fixture
def index_url(index: Index) -> Iterator[str]:
    with serving(index) as url:
        yield url


def _kept(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_verifies_a_release_from_the_index_and_keeps_it(
    release: Callable[..., object], index: Index, index_url: str, tmp_path: Path
) -> None:
    keep = tmp_path / "downloads"
    result = release(
        "verify", "sigstore==3.6.1", "--index-url", index_url, *SIGSTORE_POLICY,
        "--download-dir", keep,
    )  # fmt: skip
    assert result.code == 0, result.out + result.err  # type: ignore[attr-defined]
    assert result.out.startswith(f"OK {SIGSTORE}  sigstore/sigstore-python ")  # type: ignore[attr-defined]
    # Kept: the file and its provenance, exactly as served; no work directory left behind.
    assert _kept(keep) == [SIGSTORE, f"{SIGSTORE}.provenance"]
    assert (keep / SIGSTORE).read_bytes() == index.find(SIGSTORE).content  # type: ignore[union-attr]
    # The page was asked for as PEP 691 JSON; the provenance came from the URL the page gave.
    assert ("/simple/sigstore/", SIMPLE_JSON) in index.requests
    assert any(p == f"/integrity/sigstore/3.6.1/{SIGSTORE}/provenance" for p, _ in index.requests)
    # ... and the kept files verify again offline, as local files.
    again = release("verify", keep / SIGSTORE, *SIGSTORE_POLICY)
    assert again.code == 0  # type: ignore[attr-defined]


def test_without_a_provenance_link_the_integrity_api_is_asked(
    release: Callable[..., object], index: Index, index_url: str, attestation_fixtures: Path
) -> None:
    index.projects["pypi-attestations"]["0.0.19"] = [
        _served(attestation_fixtures, PYPI_ATT, provenance_key="absent")
    ]
    result = release("verify", "pypi-attestations==0.0.19", "--index-url", index_url, *TOB_POLICY)
    assert result.code == 0, result.out + result.err  # type: ignore[attr-defined]
    assert result.out.startswith(f"OK {PYPI_ATT}  trailofbits/pypi-attestations ")  # type: ignore[attr-defined]
    wanted = f"/integrity/pypi-attestations/0.0.19/{PYPI_ATT}/provenance"
    assert any(path == wanted for path, _ in index.requests)


def test_a_file_url(release: Callable[..., object], index_url: str) -> None:
    file_url = index_url.replace("/simple/", f"/files/{SIGSTORE}")
    result = release("verify", file_url, "--index-url", index_url, *SIGSTORE_POLICY)
    assert result.code == 0, result.out + result.err  # type: ignore[attr-defined]
    assert result.out.startswith(f"OK {SIGSTORE} ")  # type: ignore[attr-defined]


def test_swapped_file_fails_on_the_index_hash_and_is_not_kept(
    release: Callable[..., object], index: Index, index_url: str, tmp_path: Path
) -> None:
    served = index.find(SIGSTORE)
    assert served is not None
    served.listed_sha256 = served.sha256()  # the page keeps the real hash...
    served.content = served.content[:-1] + bytes([served.content[-1] ^ 1])  # ...bytes change
    keep = tmp_path / "downloads"
    result = release(
        "verify", "sigstore==3.6.1", "--index-url", index_url, *SIGSTORE_POLICY,
        "--download-dir", keep,
    )  # fmt: skip
    assert result.code == 1  # type: ignore[attr-defined]
    assert result.out == (  # type: ignore[attr-defined]
        f"FAIL {SIGSTORE}: the downloaded file's sha256 differs from the one the index lists\n"
    )
    assert _kept(keep) == []


def test_swapped_file_and_hash_fails_on_the_attested_digest(
    release: Callable[..., object], index: Index, index_url: str, tmp_path: Path
) -> None:
    served = index.find(SIGSTORE)
    assert served is not None
    served.content += b"\0"  # a hostile index changes the bytes and lists their new hash
    assert served.sha256() == hashlib.sha256(served.content).hexdigest()
    keep = tmp_path / "downloads"
    result = release(
        "verify", "sigstore==3.6.1", "--index-url", index_url, *SIGSTORE_POLICY,
        "--download-dir", keep,
    )  # fmt: skip
    assert result.code == 1  # type: ignore[attr-defined]
    assert "the file's sha256 differs from the attested one" in result.out  # type: ignore[attr-defined]
    assert _kept(keep) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"provenance": None}, "the index serves no provenance for this file (HTTP 404)"),
        ({"provenance_key": "null"}, "the index says this file has no provenance (PEP 740)"),
    ],
)
def test_missing_provenance_fails(
    release: Callable[..., object],
    index: Index,
    index_url: str,
    attestation_fixtures: Path,
    tmp_path: Path,
    change: dict[str, object],
    reason: str,
) -> None:
    index.projects["sigstore"]["3.6.1"] = [_served(attestation_fixtures, SIGSTORE, **change)]
    keep = tmp_path / "downloads"
    result = release(
        "verify", "sigstore==3.6.1", "--index-url", index_url, *SIGSTORE_POLICY,
        "--download-dir", keep,
    )  # fmt: skip
    assert result.code == 1  # type: ignore[attr-defined]
    assert result.out == f"FAIL {SIGSTORE}: {reason}\n"  # type: ignore[attr-defined]
    assert _kept(keep) == []


def test_provenance_for_another_file_fails_and_only_the_good_file_is_kept(
    release: Callable[..., object], index: Index, index_url: str, tmp_path: Path
) -> None:
    wheel = "sigstore-3.6.1-py3-none-any.whl"
    real = index.find(SIGSTORE)
    assert real is not None
    index.add("sigstore", "3.6.1", Served(wheel, b"PK\x05\x06" + bytes(18), real.provenance))
    keep = tmp_path / "downloads"
    result = release(
        "verify", "sigstore==3.6.1", "--index-url", index_url, *SIGSTORE_POLICY,
        "--download-dir", keep,
    )  # fmt: skip
    assert result.code == 1  # type: ignore[attr-defined]
    lines = [line for line in result.out.splitlines() if not line.startswith(" ")]  # type: ignore[attr-defined]
    assert lines[0].startswith(f"OK {SIGSTORE} ")
    assert lines[1] == f"FAIL {wheel}: the attestation is for '{SIGSTORE}', not for this file"
    assert _kept(keep) == [SIGSTORE, f"{SIGSTORE}.provenance"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sigstore==3.6.1", "--index-url", "http://pypi.example/simple/"], "is refused"),
        (["http://pypi.example/files/sigstore-3.6.1.tar.gz"], "is refused"),
        (["ftp://127.0.0.1/files/sigstore-3.6.1.tar.gz"], "is refused"),
        (["../../etc==1.0"], "is not a valid project name"),
        (["sigstore==3.6.1/../../x"], "is not a valid version"),
        (["sigstore==3.6.1", "local-1.0.tar.gz"], "not both"),
    ],
)
def test_unusable_targets_are_refused_before_any_request(
    release: Callable[..., object], index: Index, index_url: str, argv: list[str], message: str
) -> None:
    if "--index-url" not in argv:
        argv = [*argv, "--index-url", index_url]  # a live index: it must not be asked
    result = release("verify", *argv, *SIGSTORE_POLICY)
    assert result.code == 2, result.out + result.err  # type: ignore[attr-defined]
    assert message in result.err  # type: ignore[attr-defined]
    assert "Traceback" not in result.err  # type: ignore[attr-defined]
    assert index.requests == []


def test_a_file_name_from_the_index_never_becomes_a_path(
    release: Callable[..., object], index: Index, index_url: str, tmp_path: Path
) -> None:
    index.add("sigstore", "3.6.1", Served("../sigstore-3.6.1.tar.gz", b"x", None))
    keep = tmp_path / "deep" / "downloads"
    result = release(
        "verify", "sigstore==3.6.1", "--index-url", index_url, *SIGSTORE_POLICY,
        "--download-dir", keep,
    )  # fmt: skip
    assert result.code == 2  # type: ignore[attr-defined]
    assert "refusing unsafe file name '../sigstore-3.6.1.tar.gz'" in result.err  # type: ignore[attr-defined]
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["downloads"]
    assert _kept(keep) == []


def test_a_version_the_index_does_not_list(release: Callable[..., object], index_url: str) -> None:
    result = release("verify", "sigstore==9.9.9", "--index-url", index_url, *SIGSTORE_POLICY)
    assert result.code == 2  # type: ignore[attr-defined]
    assert "the index lists no file for sigstore==9.9.9" in result.err  # type: ignore[attr-defined]


def test_an_oversized_download_is_abandoned(
    release: Callable[..., object],
    index_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dask_kubernetes_release.verify.index as index_module

    monkeypatch.setattr(index_module, "MAX_DIST_BYTES", 4096)  # the sdist is 80 KB
    keep = tmp_path / "downloads"
    result = release(
        "verify", "sigstore==3.6.1", "--index-url", index_url, *SIGSTORE_POLICY,
        "--download-dir", keep,
    )  # fmt: skip
    assert result.code == 1  # type: ignore[attr-defined]
    assert result.out == f"FAIL {SIGSTORE}: the file is larger than the limit of 4096 bytes\n"  # type: ignore[attr-defined]
    assert _kept(keep) == []


def test_a_redirect_off_https_is_refused(
    release: Callable[..., object], index: Index, index_url: str, tmp_path: Path
) -> None:
    """An index may redirect (PyPI does, to its file host), but never to plain http elsewhere."""
    index.redirects["/simple/sigstore/"] = "http://pypi.example/simple/sigstore/"
    result = release("verify", "sigstore==3.6.1", "--index-url", index_url, *SIGSTORE_POLICY)
    assert result.code == 2  # type: ignore[attr-defined]
    assert "a redirect to 'http://pypi.example/simple/sigstore/' is refused" in result.err  # type: ignore[attr-defined]
    # ... while a redirect that stays on the loopback index is followed.
    index.redirects = {"/simple/sigstore/": index_url + "sigstore-moved/"}
    index.projects["sigstore-moved"] = index.projects["sigstore"]
    moved = release("verify", "sigstore==3.6.1", "--index-url", index_url, *SIGSTORE_POLICY)
    assert moved.code == 0, moved.out + moved.err  # type: ignore[attr-defined]


def test_a_trickling_download_is_cut_off_at_its_deadline(
    release: Callable[..., object],
    index: Index,
    index_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each piece comes quickly, so no read ever times out; the whole transfer must not last."""
    import dask_kubernetes_release.verify.index as index_module

    monkeypatch.setattr(index_module, "TRANSFER_DEADLINE_SECONDS", 1.5)
    trickle = Trickle(pieces=40, pause=0.25)  # 10 s for the whole file
    index.find(SIGSTORE).trickle = trickle  # type: ignore[union-attr]
    keep = tmp_path / "downloads"
    started = time.monotonic()
    result = release(
        "verify", "sigstore==3.6.1", "--index-url", index_url, *SIGSTORE_POLICY,
        "--download-dir", keep,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.code == 1, result.out + result.err  # type: ignore[attr-defined]
    assert result.out == f"FAIL {SIGSTORE}: the download took longer than 1.5 s (abandoned)\n"  # type: ignore[attr-defined]
    assert _kept(keep) == []  # no partial file, no work directory
    assert not trickle.finished
    assert elapsed < 8, f"the command waited {elapsed:.1f} s for a 1.5 s deadline"


def test_a_trickling_index_page_is_cut_off_at_its_deadline(
    release: Callable[..., object],
    index: Index,
    index_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dask_kubernetes_release.verify.index as index_module

    monkeypatch.setattr(index_module, "TRANSFER_DEADLINE_SECONDS", 1.5)
    index.page_trickle = Trickle(pieces=40, pause=0.25)
    keep = tmp_path / "downloads"
    started = time.monotonic()
    result = release(
        "verify", "sigstore==3.6.1", "--index-url", index_url, *SIGSTORE_POLICY,
        "--download-dir", keep,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.code == 2, result.out + result.err  # type: ignore[attr-defined]
    assert result.err == (  # type: ignore[attr-defined]
        f"error: {index_url}sigstore/: the index page took longer than 1.5 s (abandoned)\n"
    )
    assert _kept(keep) == []
    assert not index.page_trickle.finished
    assert elapsed < 8, f"the command waited {elapsed:.1f} s for a 1.5 s deadline"
