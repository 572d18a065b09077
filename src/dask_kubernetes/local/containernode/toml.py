"""A minimal TOML writer for containerd's config.toml.

The project has no TOML writer among its dependencies (Python 3.11 only reads TOML) and
containerd's config is a few nested tables of strings, booleans, integers and string lists, so
writing them here is shorter than another locked dependency. Keys are quoted when they are not bare
(plugin ids such as "io.containerd.cri.v1.runtime" contain dots).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"no TOML for {type(value).__name__}")


def dumps(document: Mapping[str, Any]) -> str:
    """Scalars of a table first, then its sub-tables as `[dotted.keys]` sections."""
    lines: list[str] = []

    def table(prefix: tuple[str, ...], values: Mapping[str, Any]) -> None:
        scalars = {k: v for k, v in values.items() if not isinstance(v, Mapping)}
        if prefix and (scalars or not any(isinstance(v, Mapping) for v in values.values())):
            lines.append("")
            lines.append("[" + ".".join(_key(part) for part in prefix) + "]")
        for key, value in scalars.items():
            lines.append(f"{_key(key)} = {_value(value)}")
        for key, value in values.items():
            if isinstance(value, Mapping):
                table((*prefix, key), value)

    table((), document)
    return "\n".join(lines).lstrip("\n") + "\n"
