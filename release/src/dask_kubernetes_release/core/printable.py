"""Evidence-derived text made safe to print on a terminal.

Why: evidence is attacker-controlled (PyPI's unsigned publisher record, a statement's fields,
a file's name). A value holding `\\x1b[2K\\rOK` would erase a FAIL line on a terminal and show
OK instead; a newline would forge a line of its own. Every human-readable printer of the
toolkit passes its lines through `printable`, which writes each character that is not
printable (control characters, escape sequences, line breaks, bidirectional overrides) as a
Python escape (`\\x1b`, `\\r`, `\\u202e`). JSON output needs none of this: json.dumps escapes.
"""

from __future__ import annotations


def printable(text: str) -> str:
    """`text` with every non-printable character written as its escape, so it shows as is."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )
