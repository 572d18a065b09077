"""Helpers for the operator tests: resource classes, polling, the operator as a process."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import kr8s
import pytest
from kr8s.objects import APIObject, new_class

from dask_kubernetes.common.pods import is_ready

T = TypeVar("T")

DaskCluster = new_class("DaskCluster", "kubernetes.dask.org/v1", namespaced=True)
DaskWorkerGroup = new_class("DaskWorkerGroup", "kubernetes.dask.org/v1", namespaced=True)
DaskJob = new_class("DaskJob", "kubernetes.dask.org/v1", namespaced=True)
DaskAutoscaler = new_class("DaskAutoscaler", "kubernetes.dask.org/v1", namespaced=True)
CRD = new_class("CustomResourceDefinition", "apiextensions.k8s.io/v1", namespaced=False)


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll `check` until it returns something truthy, or fail saying what never happened."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OperatorProcess:
    """`python -m dask_kubernetes.operator` with the stand-in's kubeconfig, restartable."""

    def __init__(
        self,
        kubeconfig: str,
        log_dir: Path,
        mode: tuple[str, ...] = ("--standalone",),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.mode = mode
        self.env = dict(env or {})
        self.log_path = log_dir / "operator.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> None:
        self.port = _free_port()
        env = dict(os.environ) | {"KUBECONFIG": self.kubeconfig, "PYTHONUNBUFFERED": "1"}
        env |= {"DASK_KUBERNETES_OPERATOR_AUTOSCALER_INTERVAL": "1"}
        env |= {"DASK_KUBERNETES_OPERATOR_AUTOSCALER_COOLDOWN": "2"} | self.env
        argv = [sys.executable, "-m", "dask_kubernetes.operator", "--all-namespaces"]
        argv += [*self.mode, f"--liveness=http://127.0.0.1:{self.port}/healthz"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for("the operator's liveness endpoint", self.alive, timeout=60)

    def alive(self) -> bool:
        url = f"http://127.0.0.1:{self.port}/healthz"
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def kubectl(kubeconfig: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """The real kubectl against `kubeconfig`; the caller checks the result (skips without it)."""
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed on this machine")
    env = dict(os.environ) | {"KUBECONFIG": str(kubeconfig)}
    return subprocess.run(
        [found, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def make(cls: type[APIObject], manifest: dict[str, Any], namespace: str, api: kr8s.Api) -> Any:
    obj = cls(manifest, namespace=namespace, api=api)
    obj.create()
    return obj


def pods(api: kr8s.Api, namespace: str, selector: dict[str, str]) -> list[Any]:
    return list(kr8s.get("pods", namespace=namespace, label_selector=selector, api=api))


def live(pod_list: list[Any]) -> list[Any]:
    return [
        p
        for p in pod_list
        if not p.metadata.get("deletionTimestamp")
        and p.status.get("phase") not in ("Succeeded", "Failed")
    ]


def _without_name_rules(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_name_rules(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {k: _without_name_rules(v) for k, v in node.items() if k not in ("pattern", "maxLength")}


@contextlib.contextmanager
def crds_without_name_rules(api: kr8s.Api) -> Iterator[None]:
    """Our CRDs as they were before their schemas checked names (no `pattern`, no `maxLength`),
    restored on exit: what is created meanwhile is "a CR stored before the schema change"."""
    from dask_kubernetes.operator.crds import load_crds

    originals = load_crds()
    try:
        for crd in originals:
            versions = _without_name_rules(crd["spec"]["versions"])
            CRD.get(crd["metadata"]["name"], api=api).patch({"spec": {"versions": versions}})
        yield
    finally:
        for crd in originals:
            versions = crd["spec"]["versions"]
            CRD.get(crd["metadata"]["name"], api=api).patch({"spec": {"versions": versions}})


@contextlib.contextmanager
def scheduler_address(
    cluster: Any, api: kr8s.Api, namespace: str, name: str, scheme: str = "tcp"
) -> Iterator[str]:
    """Where this process reaches DaskCluster `name`'s scheduler (comm port 8786).

    On the stand-in a pod's IP is a loopback address this process can dial. Elsewhere (the
    container node: pods in the cluster's network namespace; kind: pods behind its node) the way
    in is the users' way: a port-forward through the API server to the scheduler's Service, as
    KubeCluster does.
    """
    if cluster.api_server is not None:
        pod = wait_for(
            "the scheduler Pod's IP",
            lambda: _with_ip(
                kr8s.objects.Pod.get(f"{name}-scheduler", namespace=namespace, api=api)
            ),
        )
        yield f"{scheme}://{pod.status['podIP']}:8786"
        return
    wait_for(
        "a Ready scheduler Pod",
        lambda: any(
            is_ready(pod.raw)
            for pod in kr8s.get(
                "pods",
                namespace=namespace,
                label_selector={"dask.org/cluster-name": name, "dask.org/component": "scheduler"},
                api=api,
            )
        ),
        timeout=180,
    )
    service = kr8s.objects.Service.get(f"{name}-scheduler", namespace=namespace, api=api)
    with service.portforward(8786, local_port="auto") as port:
        yield f"{scheme}://127.0.0.1:{port}"


def _with_ip(pod: Any) -> Any:
    return pod if pod.status.get("podIP") else None
