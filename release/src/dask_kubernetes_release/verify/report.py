"""Verdict lines and the `--json` report.

Why: one stable line per file (`OK ...` / `FAIL ...`) is what a security team greps and pastes
into a ticket; under a passing line, each fact is listed with its source (which signature
proved it, or which unsigned record it was taken from). The JSON carries the same facts under
the names PyPI shows on a file page, the same list of facts with their sources, and the full
record of each piece of evidence (`_verify_record`). Its shape is versioned: SCHEMA_VERSION
changes whenever a field changes meaning or goes away, and `verify-report.schema.json` (beside
this module) describes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dask_kubernetes_release.core.printable import printable
from dask_kubernetes_release.verify.claims import SignerFacts

SCHEMA_VERSION = 2  # 1 was a bare list of per-file objects
SCHEMA_NAME = "verify-report.schema.json"


@dataclass(frozen=True)
class Verdict:
    """The outcome for one file."""

    filename: str
    facts: SignerFacts | None = None
    reason: str | None = None
    predicate_types: tuple[str, ...] = ()
    # The signed CycloneDX SBOMs that list this file (serial number and version).
    sboms: tuple[str, ...] = ()
    # The full record of each piece of evidence that was verified (`_verify_record`).
    evidence: tuple[dict[str, Any], ...] = ()
    # What the policy left open, as (field, what passes), e.g. ("workflow", "any workflow of o/n").
    not_pinned: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return self.facts is not None and self.reason is None

    def line(self) -> str:
        if self.ok and self.facts is not None:
            return f"OK {self.filename}  {self.facts.summary()}"
        return f"FAIL {self.filename}: {self.reason}"

    def lines(self) -> list[str]:
        """The verdict line, then (for a pass) one indented line per fact with its source."""
        facts = self.facts.sourced() if self.ok and self.facts is not None else []
        if self.ok:
            facts = [*facts, *(("sbom", sbom, "signed: in-toto statement") for sbom in self.sboms)]
        open_ = [f"    {n}: not pinned ({what})" for n, what in self.not_pinned] if self.ok else []
        lines = [f"    {name}: {value}  ({source})" for name, value, source in facts]
        return [self.line(), *lines, *open_]

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.filename,
            "verdict": "OK" if self.ok else "FAIL",
            "reason": self.reason,
            "predicate_types": list(self.predicate_types),
            "sboms": list(self.sboms),
            "provenance": self.facts.pypi_provenance() if self.facts else None,
            "facts": [
                {"name": name, "value": value, "source": source}
                for name, value, source in (self.facts.sourced() if self.facts else [])
            ],
            "evidence": list(self.evidence) if self.ok else [],
            "not_pinned": dict(self.not_pinned) if self.ok else {},
        }


def render(verdicts: list[Verdict], *, as_json: bool) -> str:
    if as_json:
        report = {
            "schema_version": SCHEMA_VERSION,
            "verified": bool(verdicts) and all(v.ok for v in verdicts),
            "files": [v.as_json() for v in verdicts],
        }
        return json.dumps(report, indent=2)
    # Lines carry evidence (a publisher record, a statement's fields): escaped for a terminal.
    return "\n".join(printable(line) for v in verdicts for line in v.lines())
