"""`helm install` of our chart with the operator image by digest: the install users run.

Why: on the process node the operator is a host process under the chart's RBAC; on the container
node the chart itself is installed (its Deployment, securityContext, probes and all) with the
repo's locked helm, the operator image pinned by digest as the released chart pins it, and
`pullPolicy: Never` (there is no registry: a reference the node does not hold fails the pod, it
is never fetched). release.yml's kind job installs the same chart the same way (by tag there).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from shipped_images import Image

from dask_kubernetes.local.controlplane.operator_chart import (
    RELEASE,
    RELEASE_NAMESPACE,
    find_helm,
)
from dask_kubernetes.local.provision import paths

_NO_KUBECONFIG = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}


class ChartInstallFailed(Exception):
    """helm install or the rollout failed (its last lines)."""


@dataclass(frozen=True)
class Installed:
    release: str
    namespace: str
    image: str  # the reference the Deployment names (repository:tag@sha256:...)
    seconds: float  # helm install --wait, until the Deployment is Available


def helm_install(kubeconfig: str, operator: Image, *, timeout: str = "3m") -> Installed:
    """Install the chart as release.yml's kind job does, but by digest; wait for the rollout."""
    chart = paths.operator_chart()
    argv = [
        str(find_helm()),
        "install",
        RELEASE,
        str(chart),
        f"--kubeconfig={kubeconfig}",
        f"--namespace={RELEASE_NAMESPACE}",
        "--create-namespace",
        f"--set=image.repository={operator.repository}",
        f"--set=image.tag={operator.tag}",
        f"--set=image.digest={operator.digest}",
        "--set=image.pullPolicy=Never",
        "--wait",
        f"--timeout={timeout}",
    ]
    started = time.monotonic()
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=600, env=_NO_KUBECONFIG, check=False
    )
    if done.returncode != 0:
        raise ChartInstallFailed(f"helm install: {(done.stderr or done.stdout).strip()[-600:]}")
    return Installed(
        RELEASE,
        RELEASE_NAMESPACE,
        f"{operator.reference}@{operator.digest}",
        round(time.monotonic() - started, 1),
    )


def operator_pod_diagnosis(kubectl: Path, kubeconfig: str) -> str:
    """The operator pods' state, events and log tail, for a failed install's message."""
    out = []
    for args in (
        ("get", "pods,events", "-o", "wide"),
        (
            "logs",
            "--all-containers",
            "--tail=40",
            f"--selector=app.kubernetes.io/instance={RELEASE}",
        ),
    ):
        done = subprocess.run(
            [str(kubectl), f"--kubeconfig={kubeconfig}", "-n", RELEASE_NAMESPACE, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=_NO_KUBECONFIG,
            check=False,
        )
        out.append(done.stdout + done.stderr)
    return "\n".join(out)[-3000:]
