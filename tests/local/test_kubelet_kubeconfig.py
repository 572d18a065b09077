"""The kubeconfig writer merges our context in and never clobbers other contexts; it holds the
access token, so it is private (0600) and never lands in a directory others can write to."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from dask_kubernetes.local.credentials.kubeconfig import (
    CONTEXT_NAME,
    KubeconfigError,
    remove_from_kubeconfig,
    write_kubeconfig,
)

TOKEN = "secret-token"
OTHER = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example"}}],
    "users": [{"name": "prod", "user": {"token": "t"}}],
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod"}}],
    "current-context": "prod",
}


def _names(config: dict, key: str) -> list[str]:
    return [entry["name"] for entry in config[key]]


def test_fresh_file(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "sub" / "config", "http://127.0.0.1:1234", token=TOKEN)
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == CONTEXT_NAME
    assert config["clusters"] == [
        {"name": CONTEXT_NAME, "cluster": {"server": "http://127.0.0.1:1234"}}
    ]
    assert path.stat().st_mode & 0o777 == 0o600


def test_merge_keeps_other_contexts_and_replaces_only_ours(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(OTHER))
    write_kubeconfig(path, "http://127.0.0.1:1", token=TOKEN)
    write_kubeconfig(path, "http://127.0.0.1:2", token=TOKEN)
    config = yaml.safe_load(path.read_text())
    assert _names(config, "contexts") == ["prod", CONTEXT_NAME]
    assert _names(config, "clusters") == ["prod", CONTEXT_NAME]
    assert config["clusters"][1]["cluster"]["server"] == "http://127.0.0.1:2"
    assert config["clusters"][0] == OTHER["clusters"][0]
    assert list(tmp_path.iterdir()) == [path]  # no temp files left behind
    remove_from_kubeconfig(path)
    restored = yaml.safe_load(path.read_text())
    assert _names(restored, "contexts") == ["prod"]
    assert restored["current-context"] == "prod"


def test_not_a_kubeconfig_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("- just\n- a list\n")
    with pytest.raises(KubeconfigError, match="not a kubeconfig"):
        write_kubeconfig(path, "http://127.0.0.1:1", token=TOKEN)
    assert path.read_text() == "- just\n- a list\n"


def test_token_and_ca_are_written(tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path / "config", "https://127.0.0.1:1", token=TOKEN, ca_pem=b"--PEM--"
    )
    config = yaml.safe_load(path.read_text())
    assert config["users"] == [{"name": CONTEXT_NAME, "user": {"token": TOKEN}}]
    cluster = config["clusters"][0]["cluster"]
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"--PEM--"


def test_a_world_writable_directory_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: anybody could plant or swap files here
    with pytest.raises(KubeconfigError, match="writable by every user"):
        write_kubeconfig(shared / "config", "http://127.0.0.1:1", token=TOKEN)
    assert list(shared.iterdir()) == []
