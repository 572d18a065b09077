"""`dask kubernetes local` as users run it: foreground, a ready line, clean exit on a signal."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import kr8s
import pytest
import yaml

from dask_kubernetes.local.kubelet.process_scan import processes_of

DASK = str(Path(sys.executable).with_name("dask"))


class Foreground:
    """The CLI as a subprocess whose stdout is read line by line in a thread."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if "ready" in line:
                self.ready.set()

    def wait_ready(self, timeout: float = 60) -> str:
        if not self.ready.wait(timeout):
            self.process.kill()
            _, err = self.process.communicate()
            raise AssertionError(f"no ready line; stdout={self.lines!r} stderr={err!r}")
        return next(line for line in self.lines if "ready" in line)

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        return code


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "signum", "scheme"),
    [
        ([DASK, "kubernetes", "local"], signal.SIGINT, "https"),
        ([sys.executable, "-m", "dask", "kubernetes", "local", "--no-tls"], signal.SIGTERM, "http"),
    ],
    ids=["dask-sigint", "python-m-dask-sigterm-no-tls"],
)
def test_foreground_ready_serves_and_stops_cleanly(
    argv: list[str], signum: int, scheme: str, tmp_path: Path
) -> None:
    kubeconfig, state_dir = tmp_path / "kubeconfig", tmp_path / "state"
    cli = Foreground(
        [*argv, "--kubeconfig", str(kubeconfig), "--state-dir", str(state_dir), "--no-operator"]
    )
    try:
        ready = cli.wait_ready()
        url = re.search(rf"{scheme}://127\.0\.0\.1:\d+", ready)
        assert url is not None
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == url.group(0)
        api = kr8s.api(kubeconfig=str(kubeconfig))
        assert "default" in [ns.name for ns in api.get("namespaces")]
        assert any(line == f"export KUBECONFIG={kubeconfig}" for line in cli.lines)
    finally:
        code = cli.stop(signum)
    assert code == 0
    assert processes_of(state_dir.resolve()) == []


def test_bad_kubeconfig_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "config"
    bad.write_text("- not\n- a kubeconfig\n")
    result = subprocess.run(
        [DASK, "kubernetes", "local", "--kubeconfig", str(bad), "--state-dir", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "not a kubeconfig" in result.stderr
    assert "Traceback" not in result.stderr
    assert bad.read_text() == "- not\n- a kubeconfig\n"


def test_kubeconfig_in_a_world_writable_directory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: another user could swap the file holding the token
    state_dir = tmp_path / "s"
    options = ["--kubeconfig", str(shared / "config"), "--state-dir", str(state_dir)]
    result = subprocess.run(
        [DASK, "kubernetes", "local", *options, "--no-operator"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "writable by every user" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(shared.iterdir()) == []
    assert processes_of(state_dir.resolve()) == []
