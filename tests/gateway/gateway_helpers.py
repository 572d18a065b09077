"""A gateway process for the tests, started as `dask kubernetes local --gateway` starts one.

Synchronous (the dask_gateway client is synchronous too): `python -m dask_kubernetes.gateway`
with the config `dask_kubernetes.gateway.local.config_text` writes, plus the admin settings
below (cluster options, image allow-list, per-user limits), against a stand-in's kubeconfig.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kr8s
from dask_gateway import BasicAuth, Gateway

from dask_kubernetes.gateway.local import config_text, free_port

IMAGE = "ghcr.io/dask/dask:2026.8.0"
OTHER_IMAGE = "ghcr.io/dask/dask:2026.8.0-py3.12"
#: What the admin of the test gateway allows: two sizes, two images, 2 clusters and 1.25 cores a
#: user. Small sizes: the real plane's scheduler places Pods by their requests on one node.
ADMIN_CONFIG = f"""
from dask_gateway_server.options import Options, Select

def _handler(options, user):
    cores, memory = {{"small": (0.25, "256 M"), "large": (0.5, "512 M")}}[options.size]
    out = {{"worker_cores": cores, "worker_memory": memory, "image": options.image}}
    if user.name.startswith("idle"):
        out["idle_timeout"] = 6.0
    return out

c.OperatorBackend.cluster_options = Options(
    Select("size", ["small", "large"], default="small"),
    Select("image", [{IMAGE!r}, {OTHER_IMAGE!r}], default={IMAGE!r}),
    handler=_handler,
)
c.OperatorClusterConfig.image = {IMAGE!r}
c.OperatorClusterConfig.image_allowlist = [{IMAGE!r}, {OTHER_IMAGE!r}]
c.OperatorClusterConfig.scheduler_memory = "256 M"
c.OperatorClusterConfig.scheduler_cores = 0.25
c.OperatorBackend.max_clusters_per_user = 2
c.OperatorBackend.max_cores_per_user = 1.25
c.OperatorBackend.heartbeat_period = 2
"""
DEADLINE = 120.0

#: dask-gateway 2026.3.0's `Gateway.__del__` closes a client a second time, and the second
#: `close()` raises (its loop runner is already stopped), which pytest reports as an unraisable
#: exception. The tests' clients (and the clusters holding one) are kept here until the
#: interpreter exits, when `__del__` does nothing. Not a mock: every call still runs for real.
KEPT: list[Any] = []


def keep(obj: Any) -> Any:
    KEPT.append(obj)
    return obj


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll `predicate` until it returns something truthy; fail saying `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def http(
    url: str, *, method: str = "GET", headers: dict[str, str] | None = None, data: bytes = b""
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, data=data or None, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class RunningGateway:
    address: str
    password: str
    namespace: str
    kubeconfig: str
    log: Path
    process: subprocess.Popen[bytes]
    on_stop: Callable[[], None] | None = None

    def gateway(self, user: str, password: str | None = None) -> Gateway:
        auth = BasicAuth(username=user, password=password or self.password)
        return keep(Gateway(address=self.address, auth=auth))

    def basic(self, user: str, password: str | None = None) -> dict[str, str]:
        import base64

        raw = f"{user}:{self.password if password is None else password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def daskclusters(self) -> list[Any]:
        api = kr8s.api(kubeconfig=self.kubeconfig)
        return list(api.get("daskclusters.kubernetes.dask.org", namespace=self.namespace))

    def pods(self, selector: dict[str, str]) -> list[Any]:
        api = kr8s.api(kubeconfig=self.kubeconfig)
        return list(api.get("pods", namespace=self.namespace, label_selector=selector))

    def secrets(self) -> list[str]:
        api = kr8s.api(kubeconfig=self.kubeconfig)
        return [s.name for s in api.get("secrets", namespace=self.namespace)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.on_stop is not None:
            self.on_stop()
            self.on_stop = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_gateway(
    kubeconfig: str,
    state_dir: Path,
    namespace: str,
    *,
    instance: str = "test-gateway",
    password: str = "test-password-not-secret",
    extra: str = ADMIN_CONFIG,
    stand_in: Any = None,
) -> RunningGateway:
    """A gateway process; with `stand_in` a real plane's LocalKubernetes, inside its network
    namespace (where the API server, the Pods and their addresses are), reached from here
    through a forwarder on 127.0.0.1, as the plane's API server is."""
    state_dir.mkdir(parents=True, exist_ok=True)
    proxy_port = free_port()
    prefix: list[str] = []
    on_stop = None
    proxy_host = "127.0.0.1"
    gateway_kubeconfig = kubeconfig
    address = f"http://127.0.0.1:{proxy_port}"
    real = getattr(stand_in, "real", None)
    if real is not None:
        from dask_kubernetes.local.kubeconfig import write_kubeconfig
        from dask_kubernetes.local.network.forwarder import TcpForwarder
        from dask_kubernetes.local.network.netns import HOST_ADDRESS, NODE_ADDRESS

        assert real.plane is not None and real.plane.ca is not None and real.admin is not None
        gateway_kubeconfig = str(
            write_kubeconfig(
                state_dir / "kubeconfig-in-namespace",
                real.plane.api_url,
                ca_pem=real.plane.ca.cert_path.read_bytes(),
                client_certificate=(real.admin.cert.read_bytes(), real.admin.key.read_bytes()),
            )
        )
        proxy_host = NODE_ADDRESS
        listener = socket.create_server((HOST_ADDRESS, 0))
        forwarder = TcpForwarder(HOST_ADDRESS, 0, lambda: (NODE_ADDRESS, proxy_port), sock=listener)
        real.node_loop.submit(forwarder.start()).result(30)
        address = f"http://{HOST_ADDRESS}:{listener.getsockname()[1]}"
        extra += f"\nc.OperatorBackend.api_url = 'http://{NODE_ADDRESS}:{proxy_port}/api'\n"
        prefix = real.namespace.exec_prefix()

        def on_stop() -> None:
            real.node_loop.submit(forwarder.stop()).result(30)

    config = state_dir / "dask_gateway_config.py"
    config.write_text(
        config_text(
            api_port=free_port(),
            proxy_port=proxy_port,
            password=password,
            namespace=namespace,
            instance=instance,
            extra=extra,
            proxy_host=proxy_host,
        )
    )
    log = state_dir / "gateway.log"
    env = dict(os.environ) | {"KUBECONFIG": gateway_kubeconfig}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "dask_kubernetes.gateway", "--config", str(config)],
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
        )
    running = RunningGateway(address, password, namespace, kubeconfig, log, process, on_stop)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"gateway exited ({process.returncode}):\n{running.log_text()}")
        try:
            return http(f"{running.address}/api/health")[0] == 200
        except OSError:
            return False

    try:
        wait_for(healthy, "the gateway to answer")
    except BaseException:
        running.stop()
        raise
    return running
