"""`.ci/run` gives every build one shared time budget, so a cold machine still ends CI inside its
90 minutes: a build that finds no time left is skipped with its consequence said, and a build
that fails still fails CI. These run the script's own function, cut out of the file, in bash."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _capped_build_source() -> str:
    text = (ROOT / ".ci" / "run").read_text()
    match = re.search(r"^capped_build\(\) \{.*?^\}\n", text, re.MULTILINE | re.DOTALL)
    assert match, ".ci/run defines no capped_build function"
    return match.group(0)


def _run(budget_left_seconds: int, call: str) -> subprocess.CompletedProcess[str]:
    script = (
        "set -euo pipefail\n"
        f"budget_end=$(( $(date +%s) + {budget_left_seconds} ))\n"
        + _capped_build_source()
        + call
        + "\necho after=$?\n"
    )
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )


def test_no_time_left_skips_the_build_and_says_what_will_skip(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    started = time.monotonic()
    result = _run(30, f'capped_build "node build" 20 "the node tests will skip" touch {marker}')
    assert result.returncode == 0, result.stderr
    assert not marker.exists(), "the build ran although the budget was spent"
    said = "node build: no build time left in CI's budget: the node tests will skip"
    assert said in result.stderr
    assert "after=0" in result.stdout
    assert time.monotonic() - started < 30


def test_a_failing_build_fails_ci() -> None:
    result = _run(3600, 'capped_build "node build" 20 "the node tests will skip" false')
    assert result.returncode == 1
    assert "after=" not in result.stdout


def test_a_build_within_the_budget_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = _run(3600, f'capped_build "node build" 20 "the node tests will skip" touch {marker}')
    assert result.returncode == 0, result.stderr
    assert marker.exists()
    assert result.stderr == ""


def test_every_build_step_goes_through_the_budget() -> None:
    text = (ROOT / ".ci" / "run").read_text()
    for command in (
        "dask_kubernetes.local.provision build\n",
        "dask_kubernetes_release.localsigstore build\n",
        "dask_kubernetes.local.provision build --node\n",
        "tests/shipped_images.py\n",
    ):
        line = next(line for line in text.splitlines(keepends=True) if line.endswith(command))
        before = text[: text.index(line)].rstrip().splitlines()[-1]
        assert before.strip().startswith("capped_build "), f"{command.strip()} is not capped"
