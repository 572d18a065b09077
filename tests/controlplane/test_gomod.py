"""tools/kube/kubernetes/go.mod maps each staging module the way k8s.io/kubernetes' own go.mod says.

The committed file is checked against the generator (which reads Kubernetes' go.mod at the pinned
tag from Go's module cache), and a tampered copy is caught.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from controlplane_support import assert_one_line_error, machine_go, run_cli

from dask_kubernetes.local.provision.gomod import (
    GoModError,
    default_modules,
    drift,
    replaces,
    required_version,
    staging_replaces,
    with_block,
)

UPSTREAM = """module k8s.io/kubernetes

go 1.26.0

require (
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go // a comment
)

replace github.com/example/other => github.com/example/fork v1.2.3
"""


def test_staging_replaces_come_from_the_staging_paths_only() -> None:
    assert staging_replaces(UPSTREAM, "v1.37.2") == {
        "k8s.io/api": "v0.37.2",
        "k8s.io/client-go": "v0.37.2",
    }


def test_a_prerelease_or_garbage_version_is_refused() -> None:
    with pytest.raises(GoModError):
        staging_replaces(UPSTREAM, "v1.38.0-beta.0")
    with pytest.raises(GoModError):
        staging_replaces("module k8s.io/kubernetes\n", "v1.37.2")


def test_written_block_round_trips_and_drift_names_each_difference() -> None:
    staged = staging_replaces(UPSTREAM, "v1.37.2")
    ours = with_block("module example.com/x\n\ngo 1.26.0\n", staged)
    assert drift(ours, staged) == []
    assert with_block(ours, staged) == ours  # regenerating is a no-op
    assert replaces(ours)["k8s.io/api"] == "k8s.io/api v0.37.2"
    wrong = ours.replace("k8s.io/api v0.37.2", "k8s.io/api v0.37.1")
    assert [p.split(":")[0] for p in drift(wrong, staged)] == ["k8s.io/api"]
    missing = ours.replace("\tk8s.io/client-go => k8s.io/client-go v0.37.2\n", "")
    assert [p.split(":")[0] for p in drift(missing, staged)] == ["k8s.io/client-go"]
    extra = ours.replace("replace (\n", "replace (\n\tk8s.io/evil => k8s.io/evil v0.1.0\n")
    assert [p.split(":")[0] for p in drift(extra, staged)] == ["k8s.io/evil"]


def test_required_version_reads_single_line_and_block_requires() -> None:
    assert required_version("require k8s.io/kubernetes v1.37.2\n", "k8s.io/kubernetes") == "v1.37.2"
    assert required_version(UPSTREAM, "k8s.io/api") == "v0.0.0"
    with pytest.raises(GoModError):
        required_version(UPSTREAM, "k8s.io/kubernetes")


def test_committed_gomod_agrees_with_kubernetes_own_gomod() -> None:
    machine_go()
    result = run_cli("gomod", "--check")
    assert result.returncode == 0, result.stderr
    modules = default_modules()
    version = required_version((modules.kubernetes / "go.mod").read_text(), "k8s.io/kubernetes")
    count = int(re.search(r": (\d+) staging replaces agree", result.stdout).group(1))  # type: ignore[union-attr]
    assert count >= 30, result.stdout
    assert version in result.stdout


def _copy_modules(tmp_path: Path) -> Path:
    root = tmp_path / "kube"
    shutil.copytree(default_modules().root, root)
    return root


def test_a_tampered_replace_is_caught_and_regenerated(tmp_path: Path) -> None:
    machine_go()
    root = _copy_modules(tmp_path)
    gomod = root / "kubernetes" / "go.mod"
    original = gomod.read_text()
    tampered = original.replace(
        "k8s.io/client-go => k8s.io/client-go v0.37.2",
        "k8s.io/client-go => k8s.io/client-go v0.36.3",
    )
    assert tampered != original
    gomod.write_text(tampered)
    line = assert_one_line_error(run_cli("gomod", "--check", "--modules", str(root)), 1)
    assert "k8s.io/client-go" in line
    fixed = run_cli("gomod", "--modules", str(root))
    assert fixed.returncode == 0, fixed.stderr
    assert gomod.read_text() == original
    assert run_cli("gomod", "--check", "--modules", str(root)).returncode == 0
