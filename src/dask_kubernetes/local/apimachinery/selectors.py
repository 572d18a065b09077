"""Label and field selectors, parsed once and matched against objects (list, watch, delete)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import APIError

_SET_RE = re.compile(r"^\s*(!?[A-Za-z0-9_./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)([A-Za-z0-9_./-]+)\s*$")


@dataclass(frozen=True)
class Requirement:
    """One clause: `key op values`, with op one of in, notin, exists, !exists."""

    key: str
    op: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op == "in":
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values


def _split_clauses(text: str) -> list[str]:
    """Split on commas that are not inside a parenthesised value set."""
    clauses, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            clauses.append(current)
            current = ""
        else:
            current += char
    clauses.append(current)
    return [c for c in clauses if c.strip()]


@functools.lru_cache(maxsize=1024)
def parse_label_selector(text: str | None) -> tuple[Requirement, ...]:
    """Selector text (`a=b,c in (d),!e`) as requirements; parsed once per distinct text."""
    if not text:
        return ()
    requirements = []
    for clause in _split_clauses(text):
        if match := _SET_RE.match(clause):
            values = frozenset(v.strip() for v in match[3].split(",") if v.strip())
            requirements.append(Requirement(match[1], match[2], values))
        elif match := _EQ_RE.match(clause):
            op = "notin" if match[2] == "!=" else "in"
            requirements.append(Requirement(match[1], op, frozenset({match[3]})))
        elif match := _EXISTS_RE.match(clause):
            requirements.append(Requirement(match[2], "!exists" if match[1] else "exists"))
        else:
            raise APIError(400, f"unable to parse requirement: {clause.strip()!r}")
    return tuple(requirements)


def labels_match(requirements: tuple[Requirement, ...], obj: Mapping[str, Any]) -> bool:
    """The one label match of the stand-in: every requirement holds for `obj`'s labels."""
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(r.matches(labels) for r in requirements)


def requirements_of(selector: Mapping[str, Any] | None) -> tuple[Requirement, ...]:
    """A `LabelSelector` object (matchLabels/matchExpressions) or a Service's plain label map,
    as requirements (an empty or missing selector gives none: it matches everything)."""
    return parse_label_selector(selector_to_string(selector))


@dataclass(frozen=True)
class FieldRequirement:
    """A field selector clause: a dotted path compared (== or !=) with a string."""

    path: str
    value: str
    negated: bool

    def matches(self, obj: Mapping[str, Any]) -> bool:
        actual = field_value(obj, self.path)
        return (actual != self.value) if self.negated else (actual == self.value)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """Read a dotted field as the string a real server compares (missing reads as "")."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def parse_field_selector(text: str | None) -> tuple[FieldRequirement, ...]:
    if not text:
        return ()
    requirements = []
    for clause in _split_clauses(text):
        for op, negated in (("!=", True), ("==", False), ("=", False)):
            if op in clause:
                path, value = clause.split(op, 1)
                requirements.append(FieldRequirement(path.strip(), value.strip(), negated))
                break
        else:
            raise APIError(400, f"invalid field selector: {clause.strip()!r}")
    return tuple(requirements)


def fields_match(requirements: tuple[FieldRequirement, ...], obj: Mapping[str, Any]) -> bool:
    return all(r.matches(obj) for r in requirements)


def selector_to_string(selector: Mapping[str, Any] | None) -> str:
    """Render a `LabelSelector` object (matchLabels/matchExpressions) as selector text."""
    if not selector:
        return ""
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr["operator"], expr["key"], expr.get("values") or []
        if op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            parts.append(f"{key} {op.lower()} ({','.join(values)})")
    return ",".join(parts)


@dataclass(frozen=True)
class Selection:
    """The label and field selectors of one request, applied together."""

    labels: tuple[Requirement, ...] = ()
    fields: tuple[FieldRequirement, ...] = ()

    @classmethod
    def parse(cls, label_selector: str | None, field_selector: str | None) -> Selection:
        return cls(parse_label_selector(label_selector), parse_field_selector(field_selector))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return labels_match(self.labels, obj) and fields_match(self.fields, obj)
