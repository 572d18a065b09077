"""release/docker/Dockerfile is read as data by the image builder, so the images built here run
its very steps; what the reader does not understand is refused, naming the line.

Why: a second copy of the install steps would drift from release.yml's image; a reader that
skipped an instruction it did not know would drift silently instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.image.dockerfile import read_recipe

DOCKERFILE = Path(__file__).resolve().parents[3] / "release" / "docker" / "Dockerfile"


def test_the_release_dockerfile_reads_as_the_steps_release_yml_runs() -> None:
    recipe = read_recipe(DOCKERFILE)
    assert recipe.base.startswith("python:3.12-slim@sha256:")
    assert recipe.user == "1000:1000"
    assert recipe.entrypoint == ["python", "-m", "dask_kubernetes.operator"]
    assert recipe.env["PYTHONDONTWRITEBYTECODE"] == "1"
    (run,) = recipe.runs
    assert "--require-hashes" in run and "install-wheel.sh /tmp/dist" in run
    assert [c.destination for c in recipe.copies] == ["/tmp/", "/tmp/dist/"]
    assert recipe.copies[1].sources == ("dist/SHA256SUMS", "dist/*.whl")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM x\nARG V=1\nRUN true\n", "Dockerfile:2: ARG is not understood by the image builder"),
        ("FROM x\nUSER 1000\nRUN true\n", "Dockerfile:3: RUN after USER is not understood"),
        ("FROM x\nRUN true\nCOPY a /tmp/\n", "Dockerfile:3: COPY after RUN is not understood"),
        (
            "FROM x\nCOPY --chown=1 a /tmp/\nRUN true\n",
            "Dockerfile:2: COPY SRC... DEST (no options)",
        ),
        ("FROM x\nRUN true\nENTRYPOINT python -m x\n", "Dockerfile:3: only the JSON (exec) form"),
        ("FROM x\nENV A\nRUN true\n", "Dockerfile:2: ENV must be NAME=VALUE pairs"),
        ("FROM x\n", "no RUN step"),
        ("FROM x\nRUN true \\\n", "Dockerfile ends inside a continued line"),
    ],
)
def test_what_the_reader_does_not_understand_is_refused_by_line(
    text: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        read_recipe(path)
    assert message in str(caught.value)


def test_continuations_and_comments_join_as_docker_joins_them(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(
        "# a comment\nFROM x\nENV A=1 \\\n    B='two words'\nRUN echo a \\\n"
        "    # inside\n    && echo b\n"
    )
    recipe = read_recipe(path)
    assert recipe.env == {"A": "1", "B": "two words"}
    assert recipe.runs == ["echo a && echo b"]
