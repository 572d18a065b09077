"""Scaling is visible where users look (issue 15): `kubectl get` and `dask kubernetes list`.

`dask kubernetes scale` (and the autoscaler, and `kubectl scale daskworkergroup`) resize the
default worker group, not the DaskCluster's `spec.worker.replicas`: a column or a listing that
reads only that spec keeps showing the old count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kr8s
import pytest
from operator_examples import local_cluster
from operator_helpers import DaskCluster, DaskWorkerGroup, live, make, pods, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("operator_logs")]

KUBECTL = "/usr/bin/kubectl"


def _kubectl(kubeconfig: str, *args: str) -> str:
    env = dict(os.environ) | {"KUBECONFIG": kubeconfig}
    done = subprocess.run(
        [KUBECTL, *args], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def _columns(kubeconfig: str, kind: str, name: str, ns: str) -> dict[str, str]:
    header, row = _kubectl(kubeconfig, "get", kind, name, "-n", ns).splitlines()[:2]
    return dict(zip(header.split(), row.split(), strict=False))


def _listed_workers(kubeconfig: str, ns: str) -> Any:
    """`dask kubernetes list -o json`, the command users run."""
    env = dict(os.environ) | {"KUBECONFIG": kubeconfig}
    dask = str(Path(sys.executable).parent / "dask")
    done = subprocess.run(
        [dask, "kubernetes", "list", "-n", ns, "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (row,) = json.loads(done.stdout)
    return row["workers"]


@pytest.mark.skipif(not os.path.exists(KUBECTL), reason=f"needs kubectl at {KUBECTL}")
def test_current_workers_show_after_scaling_the_group(
    k8s_cluster: Any, kube: kr8s.Api, ns: str
) -> None:
    manifest = local_cluster("seen", replicas=1)
    manifest["spec"]["worker"]["spec"]["containers"][0]["args"] = ["sleep", "1000000"]
    make(DaskCluster, manifest, ns, kube)
    wait_for(
        "the default group", lambda: DaskWorkerGroup.get("seen-default", namespace=ns, api=kube)
    )
    # What `dask kubernetes scale seen 3` and the autoscaler do: scale the group, not the cluster.
    _kubectl(
        k8s_cluster.kubeconfig, "scale", "daskworkergroup", "seen-default", "--replicas=3", "-n", ns
    )
    selector = {"dask.org/workergroup-name": "seen-default"}
    wait_for("3 workers", lambda: len(live(pods(kube, ns, selector))) == 3)
    kubeconfig = k8s_cluster.kubeconfig
    wait_for(
        "kubectl get daskcluster to show 3 current workers",
        lambda: _columns(kubeconfig, "daskcluster", "seen", ns).get("CURRENT") == "3",
    )
    wait_for(
        "kubectl get daskworkergroup to show 3 current workers",
        lambda: _columns(kubeconfig, "daskworkergroup", "seen-default", ns).get("CURRENT") == "3",
    )
    assert _listed_workers(kubeconfig, ns) == 3, "dask kubernetes list shows a stale count"
