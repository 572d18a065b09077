"""The kubelet's image entrypoints stay those of the images we build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dask_kubernetes.local.kubelet.command import container_argv, search_path
from dask_kubernetes.local.kubelet.images import ENTRYPOINTS, entrypoint, repository

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_IMAGE = "ghcr.io/dask/dask-kubernetes-operator"


def test_operator_entrypoint_is_the_dockerfiles() -> None:
    lines = (ROOT / "release" / "docker" / "Dockerfile").read_text().splitlines()
    [line] = [line for line in lines if line.startswith("ENTRYPOINT ")]
    assert ENTRYPOINTS[OPERATOR_IMAGE] == tuple(json.loads(line.removeprefix("ENTRYPOINT ")))


def test_the_chart_deploys_that_image() -> None:
    values = yaml.safe_load(
        (ROOT / "charts" / "dask-kubernetes-operator" / "values.yaml").read_text()
    )
    assert values["image"]["repository"] == OPERATOR_IMAGE


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (f"{OPERATOR_IMAGE}:2026.11.0", OPERATOR_IMAGE),
        (f"{OPERATOR_IMAGE}@sha256:{'a' * 64}", OPERATOR_IMAGE),
        (f"{OPERATOR_IMAGE}:1.0@sha256:{'a' * 64}", OPERATOR_IMAGE),
        ("localhost:5000/dask", "localhost:5000/dask"),
        ("localhost:5000/dask:1", "localhost:5000/dask"),
        ("busybox", "busybox"),
    ],
)
def test_repository_drops_tag_and_digest(image: str, expected: str) -> None:
    assert repository(image) == expected


def test_a_container_without_command_runs_the_image_entrypoint_then_its_args(
    tmp_path: Path,
) -> None:
    container = {"image": f"{OPERATOR_IMAGE}:0.0.0", "args": ["--standalone"]}
    argv = container_argv(container, {}, search_path(tmp_path))
    assert argv[1:] == ["-m", "dask_kubernetes.operator", "--standalone"]
    assert Path(argv[0]).name.startswith("python")
    assert entrypoint("ghcr.io/dask/dask:latest") == ()  # its entrypoint runs the args
