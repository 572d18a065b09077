"""`dask kubernetes local --gateway`: the printed exports make `dask_gateway.Gateway()` work with
no arguments from another shell without KUBECONFIG; Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(300)]

DASK = str(Path(sys.executable).parent / "dask")
CLIENT = """
from dask_gateway import Gateway
gateway = Gateway()
cluster = gateway.new_cluster()
cluster.scale(1)
with cluster.get_client() as client:
    client.wait_for_workers(1, timeout=120)
    print("result", client.submit(sum, range(10)).result(), flush=True)
print("listed", [c.name for c in gateway.list_clusters()] == [cluster.name], flush=True)
cluster.shutdown()
print("after", gateway.list_clusters(), flush=True)
"""


def _read_until_exports(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("export DASK_GATEWAY__AUTH__KWARGS__PASSWORD="):
            return


def test_local_gateway_exports_work_from_another_shell(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [DASK, "kubernetes", "local", "--gateway", "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        reader = threading.Thread(target=_read_until_exports, args=(process, lines), daemon=True)
        reader.start()
        reader.join(180)
        assert not reader.is_alive(), f"no gateway exports within 180 s: {lines}"
        assert any("ready" in line and "Dask Gateway" in line for line in lines), lines
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in lines
            if line.startswith("export DASK_GATEWAY__")
        )
        assert exports["DASK_GATEWAY__AUTH__TYPE"] == "basic"
        assert len(exports["DASK_GATEWAY__AUTH__KWARGS__PASSWORD"]) >= 24
        assert exports["DASK_GATEWAY__ADDRESS"].startswith("http://127.0.0.1:")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "DASK_"))}
        result = subprocess.run(
            [sys.executable, "-c", CLIENT],
            env=env | exports,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "result 45" in result.stdout
        assert "listed True" in result.stdout
        assert "after []" in result.stdout
        # The wrong password is refused.
        wrong = env | exports | {"DASK_GATEWAY__AUTH__KWARGS__PASSWORD": "guess"}
        refused = subprocess.run(
            [sys.executable, "-c", "from dask_gateway import Gateway; Gateway().list_clusters()"],
            env=wrong,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode != 0 and "401" in refused.stderr
    finally:
        process.send_signal(signal.SIGINT)
        try:
            rest = process.communicate(timeout=120)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            rest = process.communicate()[0]
    assert process.returncode == 0, rest
    assert "stopping" in rest
    leftover = subprocess.run(
        ["pgrep", "-f", str(tmp_path / "state")], capture_output=True, text=True
    ).stdout.split()
    assert not leftover, f"processes left running: {leftover}"


def test_gateway_without_the_operator_is_refused_in_one_line() -> None:
    result = subprocess.run(
        [DASK, "kubernetes", "local", "--gateway", "--no-operator"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--gateway" in result.stderr
