"""Regenerate `upstream_names.json`: the public names upstream dask-kubernetes 2026.3.0 exports.

Run by hand: `.venv/bin/python tests/kubecluster/make_upstream_names.py`. It downloads the upstream
wheel (no install) and reads the modules users import from with `ast`, so nothing of upstream's
runs. A public name is one bound at module level (def, class, assignment, `from ... import`,
listed in `__all__`) that does not start with an underscore, plus `__version__`; a plain
`import re` is the module's own business, not an export.
"""

from __future__ import annotations

import ast
import json
import tempfile
import zipfile
from pathlib import Path

from make_upstream_golden import download_upstream_wheel

HERE = Path(__file__).resolve().parent
MODULES = {
    "dask_kubernetes": "dask_kubernetes/__init__.py",
    "dask_kubernetes.operator": "dask_kubernetes/operator/__init__.py",
    "dask_kubernetes.exceptions": "dask_kubernetes/exceptions.py",
    "dask_kubernetes.constants": "dask_kubernetes/constants.py",
}
DUNDER_EXPORTS = frozenset({"__version__", "__version_tuple__"})


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements that run at import: the body, and what `try`/`if` blocks in it hold."""
    found: list[ast.stmt] = []
    for node in body:
        found.append(node)
        if isinstance(node, ast.Try):
            found += _module_level(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                found += _module_level(handler.body)
        elif isinstance(node, ast.If):
            found += _module_level(node.body + node.orelse)
    return found


def public_names(source: str) -> list[str]:
    names: set[str] = set()
    for node in _module_level(ast.parse(source).body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
                    if target.id == "__all__":
                        names.update(ast.literal_eval(node.value))
    return sorted(n for n in names if not n.startswith("_") or n in DUNDER_EXPORTS)


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        zipfile.ZipFile(download_upstream_wheel(tmp)) as archive,
    ):
        names = {
            module: public_names(archive.read(path).decode()) for module, path in MODULES.items()
        }
    (HERE / "upstream_names.json").write_text(json.dumps(names, indent=1) + "\n")


if __name__ == "__main__":
    main()
