"""`dask kubernetes list | scale | logs | port-forward | delete` against a live cluster."""

# mypy: disable-error-code="no-untyped-call"
# (distributed.Client is unannotated.)
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from distributed import Client
from distributed.security import Security
from e2e_helpers import (
    DASK_CLI,
    IMAGE,
    RESOURCE_TIMEOUT,
    cluster_pods,
    object_names,
    wait_until,
)

from dask_kubernetes.cli import kubernetes
from dask_kubernetes.operator.kubecluster import KubeCluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]


def test_cluster_commands(operator_cluster: Any, namespace: str, tmp_path: Path) -> None:
    kubeconfig = operator_cluster.kubeconfig
    runner = CliRunner()
    with KubeCluster(
        name="clitest",
        namespace=namespace,
        image=IMAGE,
        n_workers=1,
        shutdown_on_close=False,
        resource_timeout=RESOURCE_TIMEOUT,
        quiet=True,
    ) as cluster:
        listed = runner.invoke(kubernetes, ["list", "-n", namespace, "-o", "json"])
        assert listed.exit_code == 0, listed.output
        [row] = json.loads(listed.output)
        assert (row["name"], row["namespace"], row["workers"]) == ("clitest", namespace, 1)

        scaled = runner.invoke(kubernetes, ["scale", "clitest", "2", "-n", namespace])
        assert scaled.exit_code == 0, scaled.output
        cluster.wait_for_workers(2, timeout=RESOURCE_TIMEOUT)

        logs = runner.invoke(kubernetes, ["logs", "clitest", "-n", namespace])
        assert logs.exit_code == 0, logs.output
        assert "==> clitest-scheduler" in logs.output and "Scheduler at" in logs.output

    # The CLI's port-forward, as a user runs it, until Ctrl+C; a hand-made Client of this TLS
    # cluster needs the certificate the CLI writes (0600).
    env = dict(os.environ, KUBECONFIG=kubeconfig)
    security_file = tmp_path / "clitest-security.yaml"
    command = [*DASK_CLI, "kubernetes", "port-forward", "clitest", "-n", namespace]
    command += ["--security-file", str(security_file)]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first.startswith("Scheduler at: tls://127.0.0.1:"), first
            assert proc.stdout.readline() == f"Security (0600): {security_file}\n"
            assert proc.stdout.readline().startswith('Client: Client("tls://127.0.0.1:')
            assert security_file.stat().st_mode & 0o777 == 0o600
            security = Security(**yaml.safe_load(security_file.read_text()))
            address = first.split(": ", 1)[1].strip()
            with Client(address, timeout=30, security=security) as client:
                assert client.submit(lambda: 7).result() == 7
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=120) == 0  # only against a hang: it stops in under 1 s
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "clitest" in object_names(kubeconfig, "daskclusters", namespace)

    deleted = runner.invoke(kubernetes, ["delete", "clitest", "-n", namespace])
    assert deleted.exit_code == 0, deleted.output
    assert "clitest" not in object_names(kubeconfig, "daskclusters", namespace)
    wait_until(
        lambda: not cluster_pods(kubeconfig, namespace, "clitest"), RESOURCE_TIMEOUT, "pods gone"
    )
    again = runner.invoke(kubernetes, ["delete", "clitest", "-n", namespace])
    assert again.exit_code == 1
    assert "No Dask cluster named 'clitest'" in again.output
