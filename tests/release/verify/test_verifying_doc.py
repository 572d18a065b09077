"""Every `$` command in docs/VERIFYING.md runs, and prints what the page says it prints."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "VERIFYING.md"
DOWNLOADS = ("sigstore-3.6.1.tar.gz", "sigstore-3.6.1.tar.gz.provenance")


def _console_blocks(text: str) -> list[list[tuple[str, list[str]]]]:
    """[(command, expected output lines)] for every ```console block."""
    blocks = []
    for body in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        steps: list[tuple[str, list[str]]] = []
        for line in body.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
        blocks.append(steps)
    return blocks


def _matches(expected: list[str], actual: str) -> bool:
    """Expected lines appear in order; `...` stands for anything (lines or characters)."""
    pattern = ".*".join(re.escape(line).replace(re.escape("..."), ".*") for line in expected)
    return re.search(pattern, actual, flags=re.S) is not None


@pytest.mark.slow
def test_doc_commands_run(tmp_path: Path, attestation_fixtures: Path) -> None:
    for name in DOWNLOADS:  # stand-ins for the page's `curl` / `pip download` step
        shutil.copyfile(attestation_fixtures / name, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
        DASK_K8S_NO_BOOTSTRAP="1",
    )
    blocks = _console_blocks(DOC.read_text())
    assert len(blocks) >= 4
    ran = 0
    for steps in blocks:
        for command, expected in steps:
            proc = subprocess.run(
                ["bash", "-c", command], cwd=tmp_path, env=env,
                capture_output=True, text=True, check=False, timeout=300,
            )  # fmt: skip
            ran += 1
            wants_failure = any(line.startswith("FAIL ") for line in expected)
            assert proc.returncode == (1 if wants_failure else 0), (command, proc.stderr)
            assert "Traceback" not in proc.stderr
            assert _matches([line for line in expected if line.strip()], proc.stdout), (
                command,
                proc.stdout,
            )
    assert ran >= 8
