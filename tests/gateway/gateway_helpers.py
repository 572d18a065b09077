"""A gateway process for the tests, started as `dask kubernetes local --gateway` starts one.

Synchronous (the dask_gateway client is synchronous too): `python -m dask_kubernetes.gateway`
with the config `dask_kubernetes.gateway.local.config_text` writes, plus the admin settings
below (cluster options, image allow-list, per-user limits), against a stand-in's kubeconfig.
"""

from __future__ import annotations

import os
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
#: What the admin of the test gateway allows: two sizes, two images, 2 clusters and 5 cores a user.
ADMIN_CONFIG = f"""
from dask_gateway_server.options import Options, Select

def _handler(options, user):
    cores, memory = {{"small": (1, "1 G"), "large": (2, "2 G")}}[options.size]
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
c.OperatorClusterConfig.scheduler_memory = "1 G"
c.OperatorBackend.max_clusters_per_user = 2
c.OperatorBackend.max_cores_per_user = 5
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
) -> RunningGateway:
    state_dir.mkdir(parents=True, exist_ok=True)
    proxy_port = free_port()
    config = state_dir / "dask_gateway_config.py"
    config.write_text(
        config_text(
            api_port=free_port(),
            proxy_port=proxy_port,
            password=password,
            namespace=namespace,
            instance=instance,
            extra=extra,
        )
    )
    log = state_dir / "gateway.log"
    env = dict(os.environ) | {"KUBECONFIG": kubeconfig}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dask_kubernetes.gateway", "--config", str(config)],
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
        )
    running = RunningGateway(
        f"http://127.0.0.1:{proxy_port}", password, namespace, kubeconfig, log, process
    )

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
