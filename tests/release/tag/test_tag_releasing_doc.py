"""docs/RELEASING.md's offline steps, run as written on a throwaway clone with a bare remote.

The clone is brought to this work tree's state first (one commit), so the page is tested
against the tools as they are now; the `bash offline` blocks then run in order, in one shell,
with `python3` the bare interpreter the project environment was made from (as on a maintainer's
machine: it lacks the operator's dependencies) and the clone's `.venv` this test's environment
(what `python3 -m release` would have set up). Every other `python3 -m release` command on the
page is parsed by the real command line, so an option that does not exist fails here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dask_kubernetes_release.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "RELEASING.md"
VERSION = "2026.12.0"


def git(repo: Path, *argv: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *argv], capture_output=True, text=True)
    assert proc.returncode == 0, f"git {argv}: {proc.stderr}"
    return proc.stdout


def offline_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash offline\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def _release_argv(line: str) -> list[str] | None:
    words = shlex.split(line, comments=True)
    entry = words[:3] in (["python3", "-m", "release"], ["python", "-m", "release"])
    return words[3:] if entry and len(words) > 3 and words[3] in COMMANDS else None


def other_release_commands(text: str) -> list[list[str]]:
    """`python[3] -m release COMMAND ...` in the page's other code blocks, and in inline code
    when it has arguments (a bare `release chart` in prose names the command, and a placeholder
    such as COMMAND is no command), as argument lists."""
    blocks = re.findall(r"^```bash\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)
    lines = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    spans = [span.replace("\n", " ") for span in re.findall(r"`(python3? -m release [^`]+)`", text)]
    found = [argv for line in lines if (argv := _release_argv(line))]
    return found + [argv for span in spans if (argv := _release_argv(span)) and len(argv) > 1]


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


def test_every_other_release_command_on_the_page_parses() -> None:
    commands = other_release_commands(DOC.read_text())
    assert {argv[0] for argv in commands} >= {"pipeline", "verify", "check"}, commands
    for argv in commands:
        parser = build_parser(argv[0])
        try:
            args, extra = parser.parse_known_args(argv)
        except SystemExit:
            pytest.fail(
                f"docs/RELEASING.md: `python3 -m release {shlex.join(argv)}` does not parse"
            )
        assert not extra or getattr(args, "_passthrough", False), (argv, extra)


def _bare_python3() -> Path:
    """The interpreter the project environment was made from (a venv's base), as `python3`."""
    base = Path(getattr(sys, "_base_executable", sys.executable)).parent
    assert (base / "python3").exists(), f"no python3 beside {base}"
    return base


@pytest.mark.slow
def test_releasing_doc_offline_steps_tag_and_push(maintainer_clone: Path) -> None:
    repo = maintainer_clone
    script = "set -euo pipefail\n" + "\n".join(offline_blocks(DOC.read_text()))
    # The clone's .venv is this test's environment; `python3` on PATH is the bare interpreter.
    (repo / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    with (repo / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write("/.venv\n")  # .gitignore's `/.venv/` matches a directory, not a symlink
    env = {k: v for k, v in os.environ.items() if k not in ("DASK_K8S_VENV", "VIRTUAL_ENV")}
    env["PATH"] = f"{_bare_python3()}{os.pathsep}/usr/bin{os.pathsep}/bin"
    ready = subprocess.run(
        ["python3", "-c",
         "from release.bootstrap import _fingerprint, _inside, venv_dir\n"
         "env = venv_dir(); stamp = env / '.dask-kubernetes-stamp'\n"
         "ok = _inside(env) or (stamp.exists() and stamp.read_text().strip() == _fingerprint())\n"
         "print('ready' if ok else 'stale')"],
        cwd=repo, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if ready.stdout.strip() != "ready":  # never let the bootstrap reinstall this environment
        pytest.skip(f"this environment is not .venv as `python3 -m release` made it: {ready}")
    proc = subprocess.run(
        ["bash", "-c", script], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"git push origin {VERSION}" in proc.stdout
    remote = repo.parent / "remote.git"
    assert git(remote, "cat-file", "-t", VERSION).strip() == "tag"
    assert git(remote, "rev-parse", f"{VERSION}^{{commit}}") == git(remote, "rev-parse", "main")
    # The Go module's tag, pushed with it, on the same commit.
    go_tag = f"go/v{VERSION}^{{commit}}"
    assert git(remote, "rev-parse", go_tag) == git(remote, "rev-parse", "main")
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
