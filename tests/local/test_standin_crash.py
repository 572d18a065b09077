"""A stand-in that dies without cleaning up (SIGKILL) still leaves no process behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from standin_support import wait_for

from dask_kubernetes.local.kubelet.process_scan import processes_of

COMPOSER = """
import sys, time
import kr8s
from kr8s.objects import Pod
from dask_kubernetes.local import LocalKubernetes

sleeper = "[sys.executable, '-c', 'import time; time.sleep(600)']"
code = (
    "import subprocess, sys, time\\n"
    f"subprocess.Popen({sleeper})\\n"
    f"subprocess.Popen({sleeper}, start_new_session=True)\\n"
    "time.sleep(600)\\n"
)
container = {"name": "c", "image": "x", "args": ["python", "-c", code]}
with LocalKubernetes(sys.argv[1]) as k8s:
    pod = Pod({"metadata": {"name": "orphan-maker", "namespace": "default"},
               "spec": {"containers": [container]}},
              api=kr8s.api(kubeconfig=k8s.kubeconfig))
    pod.create()
    print("created", flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
def test_sigkilled_composer_leaves_nothing(tmp_path: Path) -> None:
    state_dir = (tmp_path / "state").resolve()
    composer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(COMPOSER), str(state_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert composer.stdout is not None
        assert composer.stdout.readline().strip() == "created"
        # The pod's process, its child and its escaped grandchild, plus the watchdog's absence:
        wait_for(lambda: len(processes_of(state_dir)) >= 3, "the pod's three processes", 60)
    finally:
        composer.send_signal(signal.SIGKILL)
        composer.wait()
    wait_for(lambda: processes_of(state_dir) == [], "every pod process to be killed", 30)
