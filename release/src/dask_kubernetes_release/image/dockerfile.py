"""release/docker/Dockerfile read as data, so the images built here run its very steps.

Why not a second recipe: release.yml builds the operator image from that Dockerfile; an image
built here from a copy of its steps would drift from what ships the day someone edits one of
them. Only what the file uses is understood (FROM, ENV, COPY, RUN, USER, ENTRYPOINT, CMD,
WORKDIR, comments and line continuations); anything else is refused, naming the line, so a new
instruction in the Dockerfile is noticed here rather than silently skipped.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dask_kubernetes_release.core.errors import UsageError

KNOWN = frozenset({"FROM", "ENV", "COPY", "RUN", "USER", "ENTRYPOINT", "CMD", "WORKDIR"})


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]  # relative to the build context; may hold globs
    destination: str


@dataclass
class Recipe:
    """The Dockerfile's instructions in order of effect: files in, then commands, then config."""

    base: str = ""
    env: dict[str, str] = field(default_factory=dict)
    copies: list[Copy] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    user: str = ""
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    workdir: str = ""


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction) with comments dropped and `\\` continuations joined."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].rstrip())
            continue
        pending.append(stripped)
        lines.append((start, " ".join(part for part in pending if part)))
        pending = []
    if pending:
        raise UsageError("Dockerfile ends inside a continued line")
    return lines


def _exec_form(value: str, where: str) -> list[str]:
    try:
        parsed = json.loads(value)
    except ValueError:
        raise UsageError(f"{where}: only the JSON (exec) form is understood") from None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        raise UsageError(f"{where}: expected a JSON list of strings")
    return parsed


def read_recipe(path: Path) -> Recipe:
    """The recipe in `path`; UsageError naming the line of anything not understood."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    recipe = Recipe()
    for number, line in _logical_lines(text):
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        where = f"{path.name}:{number}"
        if keyword not in KNOWN:
            raise UsageError(f"{where}: {keyword} is not understood by the image builder")
        value = value.strip()
        if keyword == "FROM":
            recipe.base = value
        elif keyword == "ENV":
            for word in shlex.split(value):
                name, sep, setting = word.partition("=")
                if not sep:
                    raise UsageError(f"{where}: ENV must be NAME=VALUE pairs")
                recipe.env[name] = setting
        elif keyword == "COPY":
            if recipe.runs:
                raise UsageError(f"{where}: COPY after RUN is not understood (files go in first)")
            words = shlex.split(value)
            if len(words) < 2 or any(word.startswith("--") for word in words):
                raise UsageError(f"{where}: COPY SRC... DEST (no options) is what is understood")
            recipe.copies.append(Copy(tuple(words[:-1]), words[-1]))
        elif keyword == "RUN":
            if recipe.user:
                raise UsageError(f"{where}: RUN after USER is not understood (steps run as root)")
            recipe.runs.append(value)
        elif keyword == "USER":
            recipe.user = value
        elif keyword == "WORKDIR":
            recipe.workdir = value
        elif keyword == "ENTRYPOINT":
            recipe.entrypoint = _exec_form(value, where)
        else:
            recipe.cmd = _exec_form(value, where)
    if not recipe.runs:
        raise UsageError(f"{path}: no RUN step")
    return recipe
