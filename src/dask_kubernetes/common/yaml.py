"""The one way src/ reads a YAML document that must be a mapping (a manifest, a Chart.yaml).

`yaml.safe_load` returns whatever the document holds (a list, a string, None for an empty
file), and each reader used to check that differently; here a non-mapping is refused with one
message naming the file, so a caller only chooses which error to show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class MappingError(ValueError):
    """The text is not a YAML mapping (either reason below)."""


class InvalidYaml(MappingError):
    """The text does not parse as YAML."""


class NotAMapping(MappingError):
    """The text is YAML, but its document is not a mapping."""


def load_mapping(source: str | Path, what: str | None = None) -> dict[str, Any]:
    """The mapping in `source` (YAML text, or a file when a `Path`); `what` names it in errors.

    A file that cannot be read raises `OSError`, as `Path.read_text` does.
    """
    if isinstance(source, Path):
        what = what or str(source)
        text = source.read_text(encoding="utf-8")
    else:
        what, text = what or "the document", source
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidYaml(f"{what} is not valid YAML: {yaml_problem(exc)}") from None
    if not isinstance(loaded, dict):
        raise NotAMapping(f"{what} is not a mapping")
    return loaded


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error on one line, where it is: "line 3, column 5: expected <block end>..."."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + " ".join(str(problem).split())
