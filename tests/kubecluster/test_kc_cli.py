"""`dask kubernetes` cluster subcommands: output, help, exit codes (2 bad input, 1 failure)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dask_kubernetes.cli import kubernetes
from dask_kubernetes.operator.kubecluster import make_cluster_spec


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_help_lists_cluster_commands(runner: CliRunner) -> None:
    result = runner.invoke(kubernetes, ["--help"])
    assert result.exit_code == 0
    for command in ("gen", "list", "scale", "delete", "port-forward", "logs"):
        assert command in result.output


def test_gen_cluster_prints_the_helper_manifest(runner: CliRunner) -> None:
    args = ["gen", "cluster", "--name", "demo", "--n-workers", "2", "-e", "A=1", "-e", "B=x=y"]
    result = runner.invoke(kubernetes, [*args, "--resources", '{"limits": {"cpu": "1"}}'])
    assert result.exit_code == 0, result.output
    expected = make_cluster_spec(
        "demo", n_workers=2, env={"A": "1", "B": "x=y"}, resources={"limits": {"cpu": "1"}}
    )
    expected["spec"]["tls"] = True  # what the CLI makes is mutually authenticated (issue #21)
    assert yaml.safe_load(result.output) == expected


def test_gen_cluster_defaults_match_upstream_cli_plus_tls(runner: CliRunner) -> None:
    result = runner.invoke(kubernetes, ["gen", "cluster", "--name", "demo"])
    expected = make_cluster_spec("demo", n_workers=3, env={})
    assert yaml.safe_load(result.output) == expected | {"spec": expected["spec"] | {"tls": True}}
    without = runner.invoke(kubernetes, ["gen", "cluster", "--name", "demo", "--no-tls"])
    assert yaml.safe_load(without.output) == expected | {"spec": expected["spec"] | {"tls": False}}


def test_gen_cluster_writes_file(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "cluster.yaml"
    result = runner.invoke(
        kubernetes, ["gen", "cluster", "--name", "f", "--jupyter", "-o", str(target)]
    )
    assert result.exit_code == 0 and result.output == ""
    spec = yaml.safe_load(target.read_text())
    assert "--jupyter" in spec["spec"]["scheduler"]["spec"]["containers"][0]["args"]
    assert [p.name for p in tmp_path.iterdir()] == ["cluster.yaml"]  # no temp file left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "Bad_Name"], "invalid"),
        (["--name", "ok", "-e", "NOEQUALS"], "KEY=VALUE"),
        (["--name", "ok", "--resources", "{not json"], "not valid JSON"),
        (["--name", "ok", "--resources", '{"limit": {}}'], "unknown field"),
        (["--name", "ok", "--n-workers", "-1"], "-1"),
        (["--name", "ok", "--scheduler-service-type", "Ingress"], "Ingress"),
    ],
)
def test_gen_cluster_bad_input_exits_2(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(kubernetes, ["gen", "cluster", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def unreachable_kubeconfig(tmp_path: Path) -> Path:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u, namespace: ns}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    return path


@pytest.mark.parametrize(
    "args", [["list"], ["scale", "c", "2"], ["delete", "c"], ["logs", "c"], ["port-forward", "c"]]
)
def test_unreachable_api_exits_1_with_one_line(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(unreachable_kubeconfig(tmp_path)))
    result = runner.invoke(kubernetes, args)
    assert result.exit_code == 1, result.output
    assert result.output.strip().startswith("Error: Cannot reach the Kubernetes API server")
    assert len(result.output.strip().splitlines()) == 1


def test_scale_rejects_negative(runner: CliRunner) -> None:
    result = runner.invoke(kubernetes, ["scale", "c", "-3"])
    assert result.exit_code == 2


def test_version_names_this_package() -> None:
    """`dask kubernetes --version`, run as a user runs it: this package's name and version."""
    import subprocess
    import sys

    import dask_kubernetes

    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from dask.cli import run_cli; run_cli()",
            "kubernetes",
            "--version",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"dask-kubernetes, version {dask_kubernetes.__version__}"


def test_delete_takes_several_names(runner: CliRunner) -> None:
    result = runner.invoke(kubernetes, ["delete", "--help"])
    assert result.exit_code == 0 and "NAME..." in result.output
    missing = runner.invoke(kubernetes, ["delete"])
    assert missing.exit_code == 2 and "Missing argument" in missing.output


@pytest.mark.parametrize("problem", ["missing", "garbled"])
def test_unusable_kubeconfig_exits_2_with_one_line(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    if problem == "garbled":
        kubeconfig.write_text("apiVersion: v1\nclusters: [\n  - name: x\n   bad: : :\n")
        expected = f"Error: kubeconfig {kubeconfig} is not valid YAML: line 3, column 3"
    else:
        expected = f"Error: KUBECONFIG names {kubeconfig}, which does not exist"
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    result = runner.invoke(kubernetes, ["list"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(expected), result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_garbled_kubeconfig_from_the_shell_has_no_traceback(tmp_path: Path) -> None:
    """As a user runs it: one line on stderr naming the file and where, exit 2."""
    import os
    import subprocess
    import sys

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nclusters: [\n  - name: x\n   bad: : :\n")
    result = subprocess.run(
        [sys.executable, "-c", "from dask.cli import run_cli; run_cli()", "kubernetes", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: kubeconfig {kubeconfig} is not valid YAML: line 3, column 3")
