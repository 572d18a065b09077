"""The toolkit's shape is checked, not just described: no import cycle among its modules (nor
among the operator's), and each shared concept is defined in exactly one module.

Why: issue #14 found two `load_manifest`, three git runners, two atomic writes and an import
cycle (`_pipeline` <-> `_pipeline_report`); a layout that drifts back is caught here.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLKIT = ROOT / "release" / "src"
PROJECT = ROOT / "src"


def modules(base: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module of `package` under `base`."""
    found: dict[str, Path] = {}
    for path in sorted((base / package).rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import, at module level or inside a function, except `if TYPE_CHECKING:` ones."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph(found: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the modules of the same tree it imports (a package's plain names resolved).

    An import that lands on a package's `__init__` is not an edge: a package re-exporting its
    own modules (a facade) is not a cycle between modules.
    """
    graph: dict[str, set[str]] = {name: set() for name in found}
    for name in found:
        for target in imported_modules(found, name):
            if target != name and found[target].name != "__init__.py":
                graph[name].add(target)
    return graph


def _package_of(found: dict[str, Path], module: str) -> str:
    return module if found[module].name == "__init__.py" else module.rpartition(".")[0]


def imported_modules(found: dict[str, Path], name: str) -> Iterator[str]:
    """The modules of `found` that module `name` imports (relative imports and a package's plain
    names resolved to the module, or the package, that defines them)."""
    package = _package_of(found, name)
    for node in _imports(ast.parse(found[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in found:
                target = target.rpartition(".")[0]
            if target:
                yield target


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check can fail: the cycle issue #14 found is reported."""
    graph = {
        "pkg.pipeline": {"pkg.report"},
        "pkg.report": {"pkg.pipeline", "pkg.table"},
        "pkg.table": set(),
    }
    assert cycles(graph) == [["pkg.pipeline", "pkg.report"]]
    graph["pkg.report"].discard("pkg.pipeline")
    assert cycles(graph) == []


def test_the_graph_sees_function_level_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def run():\n    from pkg import b\n")
    (package / "b.py").write_text("from pkg.a import run\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import run\n"
    )
    graph = import_graph(modules(tmp_path, "pkg"))
    assert graph["pkg.a"] == {"pkg.b"}
    assert graph["pkg.c"] == set()
    assert cycles(graph) == [["pkg.a", "pkg.b"]]


@pytest.mark.parametrize(
    ("base", "package"), [(TOOLKIT, "dask_kubernetes_release"), (PROJECT, "dask_kubernetes")]
)
def test_no_import_cycle(base: Path, package: str) -> None:
    found = modules(base, package)
    assert len(found) > 10, f"no modules found under {base / package}"
    assert cycles(import_graph(found)) == []


def _facade(path: Path) -> bool:
    """A package's `__init__`, a program's entry point (`__main__`, which nothing imports:
    `test_no_module_imports_an_entry_point`), or a module that only re-exports (upstream's import
    paths such as `dask_kubernetes.exceptions`): a door onto other modules, not a layer."""
    if path.name in ("__init__.py", "__main__.py"):
        return True
    body = ast.parse(path.read_text(encoding="utf-8")).body
    exports = any(
        isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["__all__"]
        for node in body
    )
    return exports and all(
        isinstance(node, ast.Import | ast.ImportFrom)
        or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        or (isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["__all__"])
        for node in body
    )


def package_graph(found: dict[str, Path]) -> dict[str, set[str]]:
    """package -> the packages its modules import: one node a directory, its modules together.

    Facades (`_facade`) are left out as importers: `dask_kubernetes/__init__.py` may name the
    operator's classes while the operator reads `dask_kubernetes.constants`. An import of a
    facade is an edge to the facade's package.
    """
    graph: dict[str, set[str]] = {_package_of(found, name): set() for name in found}
    for name, path in found.items():
        if _facade(path):
            continue
        package = _package_of(found, name)
        for target in imported_modules(found, name):
            if _package_of(found, target) != package:
                graph[package].add(_package_of(found, target))
    return graph


def test_the_package_graph_sees_a_cycle_between_packages(tmp_path: Path) -> None:
    """The check can fail: two packages importing each other are one cycle, though no two of
    their modules import each other (issue 24's apiserver <-> controllers); a facade is no edge."""
    root = tmp_path / "pkg"
    for sub in ("server", "controllers"):
        (root / sub).mkdir(parents=True)
        (root / sub / "__init__.py").write_text("")
    (root / "__init__.py").write_text("from pkg.server.app import App\n")
    (root / "errors.py").write_text(
        '"""Facade."""\nfrom pkg.server.app import App\n__all__ = ["App"]\n'
    )
    (root / "server" / "app.py").write_text("from pkg.controllers.gc import Collector\nApp = 1\n")
    (root / "version.py").write_text("VERSION = 1\n")
    (root / "server" / "store.py").write_text("import pkg.version\n")
    (root / "controllers" / "gc.py").write_text("from pkg.server.store import Store\n")
    found = modules(tmp_path, "pkg")
    assert cycles(import_graph(found)) == []
    graph = package_graph(found)
    assert graph == {
        "pkg": set(),
        "pkg.server": {"pkg", "pkg.controllers"},
        "pkg.controllers": {"pkg.server"},
    }
    assert cycles(graph) == [["pkg.controllers", "pkg.server"]]
    (root / "controllers" / "gc.py").write_text("X = 1\n")
    assert cycles(package_graph(modules(tmp_path, "pkg"))) == []


def test_no_module_imports_an_entry_point() -> None:
    """What lets `package_graph` pass over `__main__`: it is a root, never imported."""
    graph = import_graph(modules(PROJECT, "dask_kubernetes"))
    assert [
        (a, b) for a, targets in graph.items() for b in targets if b.endswith(".__main__")
    ] == []


def test_no_package_cycle_in_src() -> None:
    """Packages form layers: no package of src/ imports one that (directly or not) imports it.
    A facade (`_facade`) may open onto anything; a module may not."""
    found = modules(PROJECT, "dask_kubernetes")
    graph = package_graph(found)
    assert "dask_kubernetes.local.apiserver" in graph
    assert cycles(graph) == []


#: local/'s packages from the bottom up, as its `__init__` lists them: each may import only
#: those before it (and anything outside local/); the compositions at the top import them all.
LOCAL_LAYERS = (
    "apimachinery",
    "wire",
    "credentials",
    "client",
    "apiserver",
    "controllers",
    "network",
    "kubelet",
    "provision",
    "controlplane",
    "containernode",
)


def test_local_is_layered_in_the_documented_order() -> None:
    graph = package_graph(modules(PROJECT, "dask_kubernetes"))
    local = "dask_kubernetes.local"
    assert {p for p in graph if p.startswith(local + ".")} == {
        f"{local}.{layer}" for layer in LOCAL_LAYERS
    }, "a package of local/ is missing from LOCAL_LAYERS (and from local/__init__'s list)"
    upward = {
        (layer, target.removeprefix(local + "."))
        for index, layer in enumerate(LOCAL_LAYERS)
        for target in graph[f"{local}.{layer}"]
        if target == local
        or (
            target.startswith(local + ".")
            and target.removeprefix(local + ".") not in LOCAL_LAYERS[:index]
        )
    }
    assert upward == set()
    listed = [
        line.split("`")[1].rstrip("/")
        for line in (PROJECT / "dask_kubernetes" / "local" / "__init__.py").read_text().splitlines()
        if line.startswith("- `") and line.split("`")[1].endswith("/")
    ]
    assert listed == list(LOCAL_LAYERS), "local/__init__.py lists the layers in another order"


def test_verify_stands_on_the_core_alone() -> None:
    """The verifier is used without the rest of the toolkit: it imports only core and itself."""
    graph = import_graph(modules(TOOLKIT, "dask_kubernetes_release"))
    allowed = ("dask_kubernetes_release.verify.", "dask_kubernetes_release.core.")
    outside = {
        (name, target)
        for name, targets in graph.items()
        if name.startswith("dask_kubernetes_release.verify.")
        for target in targets
        if not target.startswith(allowed)
    }
    assert outside == set()


# -- each concept in exactly one place ---------------------------------------------------------


def _calls(tree: ast.AST, dotted: str) -> bool:
    """Whether `tree` calls `dotted` (e.g. `yaml.safe_load`), as written or by its last name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            text = ast.unparse(node.func)
            if text == dotted or text.endswith("." + dotted):
                return True
    return False


def _defines(tree: ast.AST, name: str) -> bool:
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
        for node in ast.walk(tree)
    )


def _runs_git(tree: ast.AST) -> bool:
    """A command line that starts with the `git` executable."""
    for node in ast.walk(tree):
        if isinstance(node, ast.List) and node.elts:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and first.value == "git":
                return True
    return False


CONCEPTS: dict[str, tuple[Callable[[ast.AST], bool], str]] = {
    "the atomic write": (
        lambda t: _calls(t, "tempfile.mkstemp") or _defines(t, "write_atomic"),
        "dask_kubernetes_release.core.files",
    ),
    "write_atomically": (
        lambda t: _defines(t, "write_atomically"),
        "dask_kubernetes_release.core.files",
    ),
    "the RFC 3339 now": (
        lambda t: _calls(t, "datetime.now") or _calls(t, "datetime.utcnow"),
        "dask_kubernetes_release.core.clock",
    ),
    "the YAML loader": (
        lambda t: _calls(t, "yaml.safe_load") or _calls(t, "yaml.load"),
        "dask_kubernetes_release.core.yamldoc",
    ),
    "the git runner": (_runs_git, "dask_kubernetes_release.core.git"),
    "load_manifest": (
        lambda t: _defines(t, "load_manifest"),
        "dask_kubernetes_release.manifest.records",
    ),
}


def where(found: dict[str, Path], predicate: Callable[[ast.AST], bool]) -> list[str]:
    return sorted(
        name
        for name, path in found.items()
        if predicate(ast.parse(path.read_text(encoding="utf-8")))
    )


@pytest.mark.parametrize("concept", sorted(CONCEPTS))
def test_each_concept_is_defined_in_exactly_one_place(concept: str) -> None:
    predicate, home = CONCEPTS[concept]
    assert where(modules(TOOLKIT, "dask_kubernetes_release"), predicate) == [home]


def test_a_second_definition_is_caught(tmp_path: Path) -> None:
    """The check can fail: a copied git runner or a second load_manifest shows up."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "one.py").write_text(
        "import subprocess\ndef load_manifest(p): ...\n"
        "def head(): return subprocess.run(['git', 'rev-parse', 'HEAD'])\n"
    )
    (package / "two.py").write_text(
        "import subprocess\nfrom datetime import datetime\ndef load_manifest(p): ...\n"
        "def now(): return datetime.now()\n"
        "def tag(): return subprocess.run(['git', 'tag'])\n"
    )
    found = modules(tmp_path, "pkg")
    assert where(found, CONCEPTS["load_manifest"][0]) == ["pkg.one", "pkg.two"]
    assert where(found, CONCEPTS["the git runner"][0]) == ["pkg.one", "pkg.two"]
    assert where(found, CONCEPTS["the RFC 3339 now"][0]) == ["pkg.two"]


# -- the same in src/: issue 24's "two of each" ------------------------------------------------


def _compares_with(tree: ast.AST, value: str) -> bool:
    """Whether `tree` compares something with the literal `value` (e.g. a condition type)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) and o.value == value for o in operands):
                return True
    return False


def _stores_key(tree: ast.AST, key: str) -> bool:
    """Whether `tree` writes `key` into a mapping (`config[key] = ...` or `{key: ...}`)."""

    def is_key(node: ast.AST | None) -> bool:
        return isinstance(node, ast.Constant) and node.value == key

    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            found = is_key(node.slice)
        else:
            found = isinstance(node, ast.Dict) and any(is_key(k) for k in node.keys)
        if found:
            return True
    return False


def _posts_to(tree: ast.AST, collection: str) -> bool:
    """Whether `tree` creates objects in `collection` (`create(collection, ...)` or a POST)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func).rpartition(".")[2]
        values = [a.value if isinstance(a, ast.Constant) else None for a in node.args[:2]]
        if (name == "create" and values[:1] == [collection]) or (
            name == "request" and values == ["POST", collection]
        ):
            return True
    return False


PROJECT_CONCEPTS: dict[str, tuple[Callable[[ast.AST], bool], list[str]]] = {
    "the X.509 certificate builder": (
        lambda t: _calls(t, "x509.CertificateBuilder"),
        ["dask_kubernetes.common.certificates"],
    ),
    "making a CA (the stand-in's on disk, a DaskCluster's in memory)": (
        lambda t: _calls(t, "certificates.authority_certificate"),
        ["dask_kubernetes.local.credentials.pki", "dask_kubernetes.operator.dask_tls"],
    ),
    "the kubeconfig writer": (
        lambda t: _stores_key(t, "current-context"),
        ["dask_kubernetes.local.credentials.kubeconfig"],
    ),
    "the Ready condition": (
        lambda t: _compares_with(t, "Ready") or _defines(t, "is_ready"),
        ["dask_kubernetes.common.pods"],
    ),
    "a pod's named port": (
        lambda t: _defines(t, "resolve_port") or _defines(t, "container_port"),
        ["dask_kubernetes.common.pods"],
    ),
    "the label match": (
        lambda t: _defines(t, "labels_match") or _defines(t, "selects_labels"),
        ["dask_kubernetes.local.apimachinery.selectors"],
    ),
    "node registration": (
        lambda t: _posts_to(t, "/api/v1/nodes"),
        ["dask_kubernetes.local.kubelet.node"],
    ),
    "patch, else create": (
        lambda t: _defines(t, "patch_or_create"),
        ["dask_kubernetes.local.client.api_client"],
    ),
    "where the clone is": (
        lambda t: "parents[4]" in ast.unparse(t),
        ["dask_kubernetes.local.provision.paths"],
    ),
}


@pytest.mark.parametrize("concept", sorted(PROJECT_CONCEPTS))
def test_each_project_concept_has_one_home(concept: str) -> None:
    predicate, homes = PROJECT_CONCEPTS[concept]
    assert where(modules(PROJECT, "dask_kubernetes"), predicate) == homes


def test_a_second_home_in_src_is_caught(tmp_path: Path) -> None:
    """The check can fail: the duplicates issue 24 found are each reported, as they were."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "endpoints.py").write_text(
        "def ready(pod):\n"
        "    return any(c['type'] == 'Ready' for c in pod['status']['conditions'])\n"
    )
    (package / "kubeconfigs.py").write_text("def write(c):\n    c['current-context'] = 'x'\n")
    (package / "kubelet.py").write_text(
        "async def register(client, node):\n"
        "    await client.request('POST', '/api/v1/nodes', body=node)\n"
    )
    (package / "node.py").write_text(
        "async def register(client, node):\n    await client.create('/api/v1/nodes', node)\n"
    )
    found = modules(tmp_path, "pkg")
    assert where(found, PROJECT_CONCEPTS["the Ready condition"][0]) == ["pkg.endpoints"]
    assert where(found, PROJECT_CONCEPTS["the kubeconfig writer"][0]) == ["pkg.kubeconfigs"]
    assert where(found, PROJECT_CONCEPTS["node registration"][0]) == ["pkg.kubelet", "pkg.node"]
