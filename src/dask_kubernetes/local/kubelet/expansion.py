"""Kubernetes `$(VAR)` expansion, as the kubelet does it for env values, command and args.

`$(VAR)` becomes the variable's value when it is defined, stays verbatim when it is not, and `$$`
escapes a literal `$`: the same rules as k8s.io/kubernetes third_party/forked/golang/expansion.
"""

from __future__ import annotations

from collections.abc import Mapping


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Expand `$(NAME)` references in `text` from `variables`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 == len(text):
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end == -1:
                out.append(text[i:])
                break
            name = text[i + 2 : end]
            out.append(variables[name] if name in variables else text[i : end + 1])
            i = end + 1
        else:
            out.append(char)
            i += 1
    return "".join(out)
