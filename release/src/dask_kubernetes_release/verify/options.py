"""Option names that messages outside the command line mention.

Why its own module: the policy's refusal names the option that would change its mind
(`--trust-index-publisher`), and the command line defines that option; both import the name
from here, which imports nothing, so neither depends on the other.
"""

from __future__ import annotations

TRUST_RECORD_OPTION = "--trust-index-publisher"
