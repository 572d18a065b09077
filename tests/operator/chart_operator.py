"""The chart's operator Deployment, driven the way the suite drives its operator process.

Why: on the container node the operator is the one `helm install` put there (the operator image
by digest, the chart's securityContext and RBAC), not a host process, and the suite must hold
that one to the same tests. Stopping it scales the Deployment to zero (a kill also force-deletes
the pod, as SIGKILL ends a process); starting it scales back and awaits a Ready pod; its log is
every pod's log this session saw, kept as a pod goes, so offsets into it stay valid.
"""

from __future__ import annotations

import contextlib
from typing import Any

import kr8s
import pytest
from kr8s.objects import Deployment, Pod
from operator_helpers import wait_for

#: The chart's operator, whatever the release is called: `dko` here (tests/shipped_chart.py),
#: `dask-operator` in release.yml's kind job.
SELECTOR = {"app.kubernetes.io/name": "dask-kubernetes-operator"}
#: Bounds against hangs only: a container start on two busy cores takes seconds, not minutes.
SETTLE = 180.0


class ChartOperator:
    """`start()`, `stop(kill=)`, `logs()`, `alive()`, as `OperatorProcess` offers them."""

    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig
        self._api = kr8s.api(kubeconfig=kubeconfig)
        self._gone_logs: dict[str, str] = {}  # pod name -> its log when it went
        found = list(
            kr8s.get("deployments", namespace=kr8s.ALL, label_selector=SELECTOR, api=self._api)
        )
        if len(found) != 1:
            names = [f"{d.namespace}/{d.name}" for d in found]
            pytest.fail(f"expected the chart's one operator Deployment, found {names or 'none'}")
        self.namespace: str = found[0].namespace
        self._name: str = found[0].name

    def _deployment(self) -> Any:
        return Deployment.get(self._name, namespace=self.namespace, api=self._api)

    def _pods(self) -> list[Any]:
        return list(
            kr8s.get("pods", namespace=self.namespace, label_selector=SELECTOR, api=self._api)
        )

    def alive(self) -> bool:
        """A pod of the current rollout is Ready (the liveness probe serves in it)."""
        status = self._deployment().raw.get("status", {})
        return int(status.get("readyReplicas") or 0) >= 1

    def start(self) -> None:
        deployment: Deployment = self._deployment()
        deployment.scale(1)
        wait_for("the chart's operator pod Ready", self.alive, timeout=SETTLE)

    def stop(self, *, kill: bool = False) -> None:
        pods = self._pods()
        for pod in pods:
            self._gone_logs[pod.name] = _log(pod)
        self._deployment().scale(0)
        if kill:
            for pod in pods:
                with contextlib.suppress(kr8s.NotFoundError):
                    pod.delete(grace_period=0)
        wait_for("the chart's operator pods gone", lambda: not self._pods(), timeout=SETTLE)

    def logs(self) -> str:
        """Every operator pod's log this session: those gone first, then the live ones."""
        live = {pod.name: _log(pod) for pod in self._pods()}
        kept = [text for name, text in self._gone_logs.items() if name not in live]
        return "".join([*kept, *live.values()])


def _log(pod: Pod) -> str:
    with contextlib.suppress(kr8s.ServerError, kr8s.NotFoundError):
        return "".join(line + "\n" for line in pod.logs())
    return ""
