"""What runs the pods of the tests that need a node, on either plane.

On the real plane our kubelet is the node: the real scheduler binds the pod, the kubelet runs its
container as a process with a 10.244 pod IP and writes its output where `logfiles.log_path` says,
and logs, port-forward and proxy go through the real API server to it. The emulator's suite runs
no kubelet, so there the test does by hand what a kubelet would (bind, report Running with a
loopback pod IP, write the log files, report the end). One interface, so each test states its
expectations once and holds both planes to them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from api_support import eventually
from kubernetes import client

from dask_kubernetes.local.wire.logfiles import log_path

# Programs the real node runs (`python -c PROGRAM ARG...`); the emulator never runs them. The
# servers take `PORT [READY_MARKER]`; HTTP answers `GET /ready` with 200 once the marker exists, so
# its httpGet readiness probe says "listening, and the test let it be Ready".
WAIT = "import os, sys, time\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.05)\n"
_READY = """
import http.server, json, os, sys, threading
class Ready(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/ready":
            return self.reply(200 if os.path.exists(sys.argv[2]) else 503, b"{}")
        auth = self.headers.get("Authorization")
        self.reply(200, json.dumps({"path": self.path, "authorization": auth}).encode())
    def log_message(self, *args):
        pass
"""
HTTP = (
    _READY
    + 'http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Ready).serve_forever()\n'
)
ECHO = """
import socket, sys, threading
listener = socket.create_server(("0.0.0.0", int(sys.argv[1])))
def serve(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data.upper())
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


# The scheduler and the node of the pods a test plays the kubelet for: no scheduler serves this
# name and no kubelet this node, so on the real plane, whose node `local` is our kubelet, such pods
# stay the test's to bind and report on, as on the emulator (which runs neither).
BY_HAND = "by-hand"


def bind(core: client.CoreV1Api, namespace: str, name: str) -> None:
    """Do what the scheduler does: bind the pod to `BY_HAND`."""
    binding = client.V1Binding(
        metadata=client.V1ObjectMeta(name=name),
        target=client.V1ObjectReference(kind="Node", name=BY_HAND),
    )
    core.create_namespaced_pod_binding(name, namespace, binding, _preload_content=False)


def bind_and_run(core: client.CoreV1Api, namespace: str, name: str, ready: bool = True) -> None:
    """Do what the kubelet does: bind, then report Running with a loopback pod IP."""
    bind(core, namespace, name)
    condition = "True" if ready else "False"
    core.patch_namespaced_pod_status(
        name,
        namespace,
        {
            "status": {
                "phase": "Running",
                "podIP": "127.0.0.1",
                "podIPs": [{"ip": "127.0.0.1"}],
                "conditions": [{"type": "Ready", "status": condition}],
            }
        },
    )


def _condition(pod: Any, kind: str) -> bool:
    return any(c.type == kind and c.status == "True" for c in pod.status.conditions or ())


class Node:
    """`real`: our kubelet runs the pods; else the test stands in for it (the emulator's suite).

    `state_dir` is the kubelet's (real) or the emulator's (whose `pods/log` reads the same files);
    `markers` is a directory the pods' programs and readiness probes watch for files.
    """

    def __init__(self, real: bool, state_dir: Path, markers: Path) -> None:
        self.real = real
        self.state_dir = state_dir
        self.markers = markers

    def marker(self, namespace: str, pod: str, what: str) -> Path:
        return self.markers / f"{namespace}.{pod}.{what}"

    def container(
        self, namespace: str, pod: str, name: str = "main", program: str = WAIT, *args: str
    ) -> dict[str, Any]:
        """A container running `program` (by default: until `finish`) with `args`."""
        argv = args or (str(self.marker(namespace, pod, f"{name}.done")),)
        return {
            "name": name,
            "image": "ghcr.io/dask/dask",
            "command": [sys.executable, "-c", program, *argv],
        }

    def start(self, core: client.CoreV1Api, namespace: str, name: str, ready: bool = True) -> None:
        """The pod is bound and Running (and Ready, if `ready`)."""
        if not self.real:
            bind_and_run(core, namespace, name, ready)
            return

        def running() -> bool:
            pod = core.read_namespaced_pod(name, namespace)
            phase = pod.status.phase if pod.status else None
            return phase == "Running" and (not ready or _condition(pod, "Ready"))

        eventually(running, f"pod {name} to run on the node", timeout=60)

    def make_ready(self, core: client.CoreV1Api, namespace: str, name: str) -> None:
        if not self.real:
            ready = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
            core.patch_namespaced_pod_status(name, namespace, ready)
            return
        self.marker(namespace, name, "ready").touch()
        eventually(
            lambda: _condition(core.read_namespaced_pod(name, namespace), "Ready"),
            f"pod {name} to be Ready",
            timeout=30,
        )

    def write_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        text: str,
        *,
        previous: bool = False,
        append: bool = False,
    ) -> None:
        """What the container printed: the file the kubelet's log endpoint reads."""
        path = log_path(self.state_dir, namespace, pod, container, previous)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a" if append else "w") as handle:
            handle.write(text)

    def finish(
        self, core: client.CoreV1Api, namespace: str, pod: str, container: str = "main"
    ) -> None:
        """The container exits 0 (the pod's restartPolicy is Never): the pod Succeeded."""
        if not self.real:
            core.patch_namespaced_pod_status(pod, namespace, {"status": {"phase": "Succeeded"}})
            return
        self.marker(namespace, pod, f"{container}.done").touch()

    def exit(self, core: client.CoreV1Api, namespace: str, pod: str, code: int) -> None:
        """The container `main` (restartPolicy Never) exits with `code`: the pod Succeeded or
        Failed, its container terminated with the reason a kubelet gives (Completed, Error)."""
        if self.real:
            self.marker(namespace, pod, "main.done").touch()
            return
        terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}
        status = {
            "phase": "Succeeded" if code == 0 else "Failed",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {
                    "name": "main",
                    "image": "ghcr.io/dask/dask",
                    "imageID": "",
                    "restartCount": 0,
                    "ready": False,
                    "state": {"terminated": terminated},
                }
            ],
        }
        core.patch_namespaced_pod_status(pod, namespace, {"status": status})

    def finish_init(self, core: client.CoreV1Api, namespace: str, pod: str, container: str) -> None:
        """The init container `container` terminated with 0 and the pod went on."""
        if self.real:
            self.marker(namespace, pod, f"{container}.done").touch()
            self.start(core, namespace, pod, ready=False)
            return
        bind(core, namespace, pod)
        terminated = {
            "name": container,
            "image": "ghcr.io/dask/dask",
            "imageID": "",
            "restartCount": 0,
            "ready": False,
            "state": {"terminated": {"exitCode": 0}},
        }
        status = {"status": {"phase": "Pending", "initContainerStatuses": [terminated]}}
        core.patch_namespaced_pod_status(pod, namespace, status)
