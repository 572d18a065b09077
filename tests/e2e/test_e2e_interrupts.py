"""Ctrl-C and SIGTERM delete the clusters a script created, from the moment they exist (issue 22).

Each test runs a script as a user does (its own process, KUBECONFIG pointing at the cluster),
interrupts it once the DaskCluster exists, and then asks the API whether the cluster and its pods
are gone. A cluster the script only connected to must survive; a script's own SIGTERM handler
must stay in charge.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import kr8s
import pytest
from e2e_helpers import (
    IMAGE,
    RESOURCE_TIMEOUT,
    cluster_pods,
    kube_cluster,
    object_names,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

# A terminal delivers Ctrl-C as KeyboardInterrupt; a child of a non-interactive shell may inherit
# SIGINT ignored, so each script restores the terminal's behaviour first.
PRELUDE = """
import signal, sys, threading
signal.signal(signal.SIGINT, signal.default_int_handler)
from dask_kubernetes.operator import KubeCluster, make_cluster_spec
"""

# A scheduler that never becomes ready: `KubeCluster(...)` keeps waiting for it, with the
# DaskCluster and its pods created, until the script is interrupted.
NEVER_READY = """
name, namespace, image = sys.argv[1:4]
spec = make_cluster_spec(name, image=image, n_workers=1)
scheduler = spec["spec"]["scheduler"]["spec"]["containers"][0]
scheduler["args"] = ["python", "-c", "import time; time.sleep(3600)"]
del scheduler["livenessProbe"]
options = dict(custom_cluster_spec=spec, namespace=namespace, resource_timeout=600, quiet=True)
"""
STARTING_SCRIPT = (
    NEVER_READY
    + """
KubeCluster(**options)
print("constructor returned", flush=True)
"""
)
# The same inside `asyncio.run`: Ctrl-C cancels the task awaiting the start (in a kr8s wait).
ASYNC_STARTING_SCRIPT = (
    NEVER_READY
    + """
import asyncio

async def start():
    await KubeCluster(asynchronous=True, **options)
    print("constructor returned", flush=True)

asyncio.run(start())
"""
)

STARTED_SCRIPT = """
name, namespace, image = sys.argv[1:4]
cluster = KubeCluster(name=name, namespace=namespace, image=image, n_workers=0, quiet=True)
print("ready", flush=True)
threading.Event().wait()
"""

CONNECTED_SCRIPT = """
cluster = KubeCluster.from_name(sys.argv[1], namespace=sys.argv[2], quiet=True)
print("ready", flush=True)
threading.Event().wait()
"""

OWN_HANDLER_SCRIPT = (
    """
def own_handler(signum, frame):
    print("own handler", flush=True)
    sys.exit(7)

signal.signal(signal.SIGTERM, own_handler)
"""
    + STARTED_SCRIPT
)

# The signal arrives at the very moment of creation: sent by the script to itself just before
# the DaskCluster's create call is made (it lands while the call is in flight) or just after it
# returns (the object exists; nothing else has happened yet).
AT_CREATION_SCRIPT = (
    """
import os
from dask_kubernetes.operator.kubecluster import resources

when, signum = sys.argv[4], int(sys.argv[5])
create = resources.DaskCluster.create

async def create_then_interrupt(self, *args, **kwargs):
    if when == "in-flight":
        os.kill(os.getpid(), signum)
    result = await create(self, *args, **kwargs)
    if when == "returned":
        os.kill(os.getpid(), signum)
    return result

resources.DaskCluster.create = create_then_interrupt
"""
    + STARTING_SCRIPT
)

SIGNALS = [signal.SIGINT, signal.SIGTERM]
SIGNAL_IDS = ["ctrl-c", "sigterm"]


class Script:
    """A user's script in its own process; its stdout lines arrive on a queue."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line)
            self.lines.put(line)

    def wait_for_line(self, text: str, timeout: float) -> None:
        def seen() -> bool:
            while not self.lines.empty():
                if text in self.lines.get():
                    return True
            if self.proc.poll() is not None:
                pytest.fail(f"the script ended before printing {text!r}: {self.stderr()}")
            return False

        wait_until(seen, timeout, f"the script to print {text!r}")

    def interrupt(self, signum: int) -> int:
        """Send `signum`; the script's exit status once it has ended."""
        assert self.proc.poll() is None, self.stderr()
        self.proc.send_signal(signum)
        returncode = self.proc.wait(timeout=120)
        self._reader.join(timeout=10)
        return returncode

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read()[-3000:]


@contextmanager
def script(code: str, kubeconfig: str, *args: str) -> Iterator[Script]:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PRELUDE + code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "KUBECONFIG": kubeconfig},
    )
    try:
        yield Script(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def exists(kubeconfig: str, namespace: str, name: str) -> bool:
    return name in object_names(kubeconfig, "daskclusters", namespace)


def wait_until_gone(kubeconfig: str, namespace: str, name: str) -> None:
    def gone() -> bool:
        return not exists(kubeconfig, namespace, name) and not cluster_pods(
            kubeconfig, namespace, name
        )

    try:
        wait_until(gone, RESOURCE_TIMEOUT, f"DaskCluster {name} and its pods to be deleted")
    except pytest.fail.Exception:
        api = kr8s.api(kubeconfig=kubeconfig)
        left = [
            (
                o["kind"],
                o["metadata"]["name"],
                o["metadata"].get("deletionTimestamp"),
                o["metadata"].get("finalizers"),
                (o.get("status") or {}).get("phase"),
            )
            for kind in ("daskclusters", "daskworkergroups", "pods", "services")
            for o in api.get(kind, namespace=namespace, raw=True)
        ]
        pytest.fail(f"left behind: {left}")


@pytest.mark.parametrize("signum", SIGNALS, ids=SIGNAL_IDS)
@pytest.mark.parametrize("code", [STARTING_SCRIPT, ASYNC_STARTING_SCRIPT], ids=["sync", "async"])
def test_interrupt_during_start_deletes_the_cluster(
    operator_cluster: Any, namespace: str, signum: int, code: str
) -> None:
    kubeconfig, name = operator_cluster.kubeconfig, "interrupted"
    with script(code, kubeconfig, name, namespace, IMAGE) as running:
        # Still inside the constructor (the scheduler never gets ready), with pods made for it.
        wait_until(
            lambda: (
                running.proc.poll() is not None
                or (
                    exists(kubeconfig, namespace, name)
                    and cluster_pods(kubeconfig, namespace, name)
                )
            ),
            RESOURCE_TIMEOUT,
            "the DaskCluster and its scheduler pod to exist",
        )
        returncode = running.interrupt(signum)
        errors = running.stderr()
    assert returncode == -signum, errors  # a shell shows 130 (Ctrl-C) or 143 (SIGTERM)
    assert "constructor returned" not in "".join(running.stdout)
    assert "could not delete" not in errors, errors
    wait_until_gone(kubeconfig, namespace, name)


@pytest.mark.parametrize("signum", SIGNALS, ids=SIGNAL_IDS)
def test_interrupt_after_start_deletes_the_cluster(
    operator_cluster: Any, namespace: str, signum: int
) -> None:
    kubeconfig, name = operator_cluster.kubeconfig, "interrupted-later"
    with script(STARTED_SCRIPT, kubeconfig, name, namespace, IMAGE) as running:
        running.wait_for_line("ready", RESOURCE_TIMEOUT)
        returncode = running.interrupt(signum)
        errors = running.stderr()
    assert returncode == -signum, errors
    assert "could not delete" not in errors, errors
    wait_until_gone(kubeconfig, namespace, name)


@pytest.mark.parametrize("signum", SIGNALS, ids=SIGNAL_IDS)
def test_interrupted_connected_script_leaves_the_cluster(
    operator_cluster: Any, namespace: str, signum: int
) -> None:
    kubeconfig = operator_cluster.kubeconfig
    with kube_cluster("kept", namespace):
        with script(CONNECTED_SCRIPT, kubeconfig, "kept", namespace) as running:
            running.wait_for_line("ready", RESOURCE_TIMEOUT)
            returncode = running.interrupt(signum)
            errors = running.stderr()
        assert returncode == -signum, errors
        assert exists(kubeconfig, namespace, "kept")
        assert cluster_pods(kubeconfig, namespace, "kept")


def test_a_scripts_own_sigterm_handler_stays_in_charge(
    operator_cluster: Any, namespace: str
) -> None:
    """KubeCluster installs its SIGTERM handler only over the default action: this script's own
    handler runs (and exits 7); its normal exit then deletes the cluster, as any exit does."""
    kubeconfig, name = operator_cluster.kubeconfig, "own-handler"
    with script(OWN_HANDLER_SCRIPT, kubeconfig, name, namespace, IMAGE) as running:
        running.wait_for_line("ready", RESOURCE_TIMEOUT)
        returncode = running.interrupt(signal.SIGTERM)
        errors = running.stderr()
    assert returncode == 7, errors
    assert "own handler" in "".join(running.stdout)
    wait_until_gone(kubeconfig, namespace, name)


@pytest.mark.parametrize("signum", SIGNALS, ids=SIGNAL_IDS)
@pytest.mark.parametrize("when", ["in-flight", "returned"])
def test_interrupt_at_the_moment_of_creation_deletes_the_cluster(
    operator_cluster: Any, namespace: str, signum: int, when: str
) -> None:
    """Issue 22 item 1's "from the moment the resource exists": the signal comes while the
    create call is in flight, or right as it returns, before anything else of the start."""
    kubeconfig, name = operator_cluster.kubeconfig, "at-creation"
    args = (name, namespace, IMAGE, when, str(int(signum)))
    with script(AT_CREATION_SCRIPT, kubeconfig, *args) as running:
        returncode = running.proc.wait(timeout=120)  # it signals itself
        running._reader.join(timeout=10)
        errors = running.stderr()
    assert returncode == -signum, errors
    assert "constructor returned" not in "".join(running.stdout)
    assert "could not delete" not in errors, errors
    wait_until_gone(kubeconfig, namespace, name)
