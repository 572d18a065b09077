"""An imported image is also named `repository@sha256:MANIFEST`, as a registry pull names it, so a
pod pinned by digest (the chart's `image.digest`) runs the imported image without a pull; an
archive without an OCI index gets its tag only. (The running node's side: tests/shipped.)"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from dask_kubernetes.local.containernode.images import digest_names

DIGEST = "sha256:" + "ab" * 32


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _index(*names: str) -> bytes:
    manifests = [
        {"digest": DIGEST, "annotations": {"io.containerd.image.name": name}} for name in names
    ]
    return json.dumps({"schemaVersion": 2, "manifests": manifests}).encode()


def test_each_named_manifest_gets_its_digest_name(tmp_path: Path) -> None:
    archive = _archive(
        tmp_path / "a.oci.tar",
        {"index.json": _index("ghcr.io/dask/dask-kubernetes-operator:1.2", "localhost:5000/x:3")},
    )
    assert digest_names(archive) == [
        (
            "ghcr.io/dask/dask-kubernetes-operator:1.2",
            f"ghcr.io/dask/dask-kubernetes-operator@{DIGEST}",
        ),
        ("localhost:5000/x:3", f"localhost:5000/x@{DIGEST}"),  # a registry port is not a tag
    ]


def test_an_archive_without_an_oci_index_keeps_its_tag_only(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "docker.tar", {"manifest.json": b"[]"})
    assert digest_names(archive) == []
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"not a tar")
    assert digest_names(garbage) == []


def test_a_manifest_without_a_sha256_digest_or_name_is_left_alone(tmp_path: Path) -> None:
    index = {
        "manifests": [
            {"digest": "md5:00", "annotations": {"io.containerd.image.name": "a/b:1"}},
            {"digest": DIGEST, "annotations": {}},
        ]
    }
    archive = _archive(tmp_path / "odd.tar", {"index.json": json.dumps(index).encode()})
    assert digest_names(archive) == []
