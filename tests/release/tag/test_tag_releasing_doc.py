"""docs/RELEASING.md's offline steps, run as written on a throwaway clone with a bare remote.

The clone is brought to this work tree's state first (one commit), so the page is tested
against the tools as they are now; the `bash offline` blocks then run in order, in one shell.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "RELEASING.md"
VERSION = "2026.12.0"


def git(repo: Path, *argv: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *argv], capture_output=True, text=True)
    assert proc.returncode == 0, f"git {argv}: {proc.stderr}"
    return proc.stdout


def offline_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash offline\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


@pytest.fixture
def maintainer_clone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot_work_tree: Callable[[Path], Path]
) -> Path:
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Maintainer\n\temail = maintainer@example.invalid\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    repo, remote = tmp_path / "dask-kubernetes", tmp_path / "remote.git"
    snapshot_work_tree(repo)
    git(repo, "checkout", "-q", "-B", "main")
    for tag in git(repo, "tag", "--list").split():
        git(repo, "tag", "-d", tag)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", "snapshot of the work tree")
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    git(repo, "remote", "set-url", "origin", str(remote))
    git(repo, "push", "-q", "-u", "origin", "main")
    git(repo, "remote", "set-head", "origin", "main")
    return repo


def test_doc_has_the_offline_steps_in_release_order() -> None:
    script = "\n".join(offline_blocks(DOC.read_text()))
    order = [
        f"VERSION={VERSION}",
        "crds generate charts/dask-kubernetes-operator",
        "CHANGELOG.md",
        "git commit",
        "git push --quiet origin main",
        'python3 -m release tag "$VERSION"',
        'git push --quiet origin "$VERSION"',
    ]
    positions = [script.index(step) for step in order]
    assert positions == sorted(positions)


@pytest.mark.slow
def test_releasing_doc_offline_steps_tag_and_push(maintainer_clone: Path) -> None:
    repo = maintainer_clone
    script = "set -euo pipefail\n" + "\n".join(offline_blocks(DOC.read_text()))
    # `python3` is this interpreter, already the project environment: no second bootstrap.
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DASK_K8S_VENV": sys.prefix,
    }
    proc = subprocess.run(
        ["bash", "-c", script], cwd=repo, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"git push origin {VERSION}" in proc.stdout
    remote = repo.parent / "remote.git"
    assert git(remote, "cat-file", "-t", VERSION).strip() == "tag"
    assert git(remote, "rev-parse", f"{VERSION}^{{commit}}") == git(remote, "rev-parse", "main")
    chart = (repo / "charts" / "dask-kubernetes-operator" / "Chart.yaml").read_text()
    # One source for versions: `release chart` writes VERSION at package time, git keeps 0.0.0.
    assert "version: 0.0.0\n" in chart and 'appVersion: "0.0.0"' in chart
    changelog = (repo / "CHANGELOG.md").read_text()
    assert re.search(
        rf"^## \[Unreleased\]\n\n## \[{VERSION}\] - \d{{4}}-\d\d-\d\d$", changelog, re.M
    )
    message = git(repo, "tag", "--list", "--format=%(contents)", VERSION)
    assert message.startswith(f"dask-kubernetes {VERSION}")
    assert "### Added" in message
    assert git(repo, "status", "--porcelain") == ""
