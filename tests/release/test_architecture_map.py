"""docs/ARCHITECTURE.md stays true: every package and file it names exists, every package of both
Python distributions is named in it, and it stays one page.

Why: a map that names a module moved away sends a newcomer to nothing, and a package the map
omits is a part nobody placed in a layer. Both fail here, the day they happen.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "docs" / "ARCHITECTURE.md"
DISTRIBUTIONS = (
    ROOT / "src" / "dask_kubernetes",
    ROOT / "release" / "src" / "dask_kubernetes_release",
)
# Where a bare file name or a path inside a package may point: sources, chart, Go, tools.
SEARCHED = (*DISTRIBUTIONS, ROOT / "charts", ROOT / "go", ROOT / "tools")
ONE_PAGE_LINES = 150
_CODE = re.compile(r"`([^`\n]+)`")
_DOTTED = re.compile(r"dask_kubernetes(_release)?(\.[a-z_]+)*")
_FILE_SUFFIXES = (".py", ".yaml", ".sh", ".go", ".toml", ".md", "/")


def packages(distribution: Path) -> set[str]:
    """Dotted names of every package (a directory with `__init__.py`) of one distribution."""
    base = distribution.parent
    return {
        ".".join(init.parent.relative_to(base).parts) for init in distribution.rglob("__init__.py")
    }


def named(text: str) -> tuple[set[str], set[str]]:
    """The dotted package/module names and the file or directory paths the text puts in code."""
    dotted, paths = set(), set()
    for token in _CODE.findall(text):
        word = token.split()[0]
        if _DOTTED.fullmatch(word):
            dotted.add(word)
        elif word.endswith(_FILE_SUFFIXES) and re.fullmatch(r"[\w./-]+", word):
            paths.add(word)
    return dotted, paths


def dotted_exists(name: str, roots: tuple[Path, ...]) -> bool:
    for distribution in roots:
        relative = Path(*name.split("."))
        target = distribution.parent / relative
        if (target / "__init__.py").is_file() or target.with_suffix(".py").is_file():
            return True
    return False


def path_exists(word: str, root: Path, searched: tuple[Path, ...]) -> bool:
    """From the repository root, or inside the searched trees: `local/real.py` names
    src/dask_kubernetes/local/real.py; a bare `store.py` must be some file of ours."""
    text = word.rstrip("/")
    if (root / text).exists():
        return True
    return any(
        candidate == tree / text or str(candidate).endswith("/" + text)
        for tree in searched
        for candidate in tree.rglob(Path(text).name)
    )


def problems(
    text: str, root: Path, roots: tuple[Path, ...], searched: tuple[Path, ...] | None = None
) -> list[str]:
    dotted, paths = named(text)
    found = [f"names {name}, which does not exist" for name in sorted(dotted)
             if not dotted_exists(name, roots)]  # fmt: skip
    found += [f"names {word}, which does not exist" for word in sorted(paths)
              if not path_exists(word, root, searched or roots)]  # fmt: skip
    every = set().union(*(packages(d) for d in roots))
    found += [f"does not place package {name}" for name in sorted(every - dotted)]
    return found


def test_the_map_names_what_exists_and_every_package() -> None:
    assert problems(MAP.read_text(encoding="utf-8"), ROOT, DISTRIBUTIONS, SEARCHED) == []


def test_the_map_lists_local_in_its_layer_order() -> None:
    """local/__init__.py lists local/'s layers bottom-up (the layout test holds the code to it);
    the map places them in that order too."""
    docstring = (DISTRIBUTIONS[0] / "local" / "__init__.py").read_text(encoding="utf-8")
    layers: list[str] = re.findall(r"^- `(\w+)/`", docstring, flags=re.MULTILINE)
    assert len(layers) >= 5
    text = MAP.read_text(encoding="utf-8")
    first = {layer: text.find(f"`dask_kubernetes.local.{layer}`") for layer in layers}
    assert -1 not in first.values(), first
    assert sorted(layers, key=first.__getitem__) == layers


def test_the_map_is_one_page_and_names_the_three_distributions() -> None:
    text = MAP.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= ONE_PAGE_LINES
    for source in ("src/dask_kubernetes/", "release/src/dask_kubernetes_release/", "go/"):
        assert f"`{source}`" in text, source
    for what in ("A CRD.", "A verify pin.", "A control-plane component.", "A node component."):
        assert f"**{what}**" in text, what
    assert "rbac-rules.yaml" in text  # a CRD's step in the chart's RBAC


def test_a_stale_map_is_caught(tmp_path: Path) -> None:
    """The check can fail: a package gone, a file moved, a package left out."""
    distribution = tmp_path / "src" / "dask_kubernetes"
    for package in ("", "kept", "unplaced"):
        (distribution / package).mkdir(parents=True, exist_ok=True)
        (distribution / package / "__init__.py").write_text("")
    (distribution / "kept" / "real.py").write_text("")
    text = (
        "`dask_kubernetes` `dask_kubernetes.kept` `dask_kubernetes.gone` `kept/real.py` "
        "`kept/moved.py` `src/dask_kubernetes/`"
    )
    assert problems(text, tmp_path, (distribution,)) == [
        "names dask_kubernetes.gone, which does not exist",
        "names kept/moved.py, which does not exist",
        "does not place package dask_kubernetes.unplaced",
    ]
