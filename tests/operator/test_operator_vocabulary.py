"""One home per concept (issue 14): the shared words, the atomic write, the clock, the YAML reader.

The operator and KubeCluster find each other's objects only while they spell the API group,
labels, ports and names alike, so those words are spelled in `operator/vocabulary.py` alone;
likewise a file is written atomically, a timestamp made and a YAML mapping read in one place
each. These tests read every module of src/ (its string and number literals, docstrings aside,
and its calls) and name any second spelling.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from dask_kubernetes.operator import vocabulary as v
from dask_kubernetes.operator.crds import CRD_FILES, load_crd

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "dask_kubernetes"


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


MODULES = dict(_modules())


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the string constants that are docstrings or other bare expression strings."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def _literals(tree: ast.Module) -> Iterator[str | int]:
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in skip:
            continue
        if isinstance(node.value, (str, int)) and not isinstance(node.value, bool):
            yield node.value


def _calls(tree: ast.Module) -> Iterator[str]:
    """Dotted names of what the module calls (`tempfile.mkstemp`, `yaml.safe_load`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield ast.unparse(node.func)


def _where(match: object) -> set[str]:
    """Modules with a literal for which `match(literal)` is true."""
    assert callable(match)
    return {name for name, tree in MODULES.items() if any(match(lit) for lit in _literals(tree))}


def _spelled(pattern: str) -> object:
    regex = re.compile(pattern)
    return lambda lit: isinstance(lit, str) and bool(regex.search(lit))


VOCABULARY = "operator/vocabulary.py"
CONSTANTS = "constants.py"  # upstream's public names: the numbers the vocabulary builds on

#: word: (what finds a spelling of it, the module that alone may spell it)
WORDS = {
    # not the docs site `https://kubernetes.dask.org/...`
    "API group": (_spelled(r"(?<![/\w.])kubernetes\.dask\.org"), VOCABULARY),
    "label prefix dask.org/": (_spelled(r"(?<![\w.])dask\.org/"), VOCABULARY),
    "plural names": (_spelled(r"\bdask(clusters|workergroups|jobs|autoscalers)\b"), VOCABULARY),
    "kind names": (
        lambda lit: lit in {r.kind for r in v.DASK_RESOURCES},
        VOCABULARY,
    ),
    "port names": (lambda lit: lit in {"tcp-comm", "http-dashboard"}, VOCABULARY),
    "ports": (lambda lit: lit in {8786, 8787, 8788}, VOCABULARY),
    "component job-runner": (lambda lit: lit == "job-runner", VOCABULARY),
    "child-name suffixes": (lambda lit: lit in {"-runner", "-worker-"}, VOCABULARY),
    # `f"{cluster}-scheduler"` or the template itself; not `dask-scheduler`, `kube-scheduler`
    "scheduler name": (_spelled(r"^-scheduler$|\}-scheduler$"), CONSTANTS),
}


@pytest.mark.parametrize("word", sorted(WORDS))
def test_each_word_is_spelled_in_one_module(word: str) -> None:
    match, home = WORDS[word]
    assert _where(match) == {home}, f"{word}: spelled outside {home}"


def _atomic_writes(name: str, tree: ast.Module) -> bool:
    return any(call.endswith(("mkstemp", "NamedTemporaryFile")) for call in _calls(tree))


def _clocks(name: str, tree: ast.Module) -> bool:
    return any(isinstance(lit, str) and "%H:%M:%S" in lit for lit in _literals(tree))


def _yaml_loaders(name: str, tree: ast.Module) -> bool:
    return any(call in ("yaml.safe_load", "yaml.load") for call in _calls(tree))


DEFINITIONS = {
    "atomic write": (_atomic_writes, "common/files.py"),
    "clock": (_clocks, "common/clock.py"),
    "YAML mapping loader": (_yaml_loaders, "common/yaml.py"),
}


@pytest.mark.parametrize("concept", sorted(DEFINITIONS))
def test_each_shared_thing_is_defined_once(concept: str) -> None:
    found, home = DEFINITIONS[concept]
    places = {name for name, tree in MODULES.items() if found(name, tree)}
    assert places == {home}, f"{concept}: defined outside {home}"


def test_the_vocabulary_names_what_the_crds_define() -> None:
    """The CRD YAML is the API server's copy of the same words."""
    by_kind = {r.kind: r for r in v.DASK_RESOURCES}
    assert sorted(by_kind) == sorted(load_crd(stem)["spec"]["names"]["kind"] for stem in CRD_FILES)
    for stem in CRD_FILES:
        crd = load_crd(stem)
        resource = by_kind[crd["spec"]["names"]["kind"]]
        assert crd["spec"]["group"] == v.GROUP
        assert crd["spec"]["names"]["plural"] == resource.plural
        assert crd["metadata"]["name"] == resource.fqn
        assert [ver["name"] for ver in crd["spec"]["versions"]] == [v.VERSION]


def test_child_names_round_trip() -> None:
    assert v.scheduler_name("c") == "c-scheduler"
    assert v.worker_index("g", v.worker_pod_name("g", 12)) == 12
    assert v.worker_index("g", "g-worker-x") is None
    assert v.worker_index("g", "other-worker-1") is None
    assert v.default_worker_group_name("c") == v.worker_group_name("c", "default")
    assert v.scheduler_address("c", "ns") == "tcp://c-scheduler.ns.svc.cluster.local:8786"
