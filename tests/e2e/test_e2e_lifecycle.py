# mypy: disable-error-code="no-untyped-call"
# (distributed.Client is unannotated.)
"""The data scientist's path, end to end: create, compute, scale, adapt, reattach, logs, close."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest
from distributed import Client
from e2e_helpers import IMAGE, RESOURCE_TIMEOUT, cluster_pods, object_names, wait_until
from rich.console import Console

from dask_kubernetes.operator.kubecluster import KubeCluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

FROM_NAME_SCRIPT = textwrap.dedent(
    """
    import sys
    from distributed import Client
    from dask_kubernetes.operator.kubecluster import KubeCluster

    with KubeCluster.from_name(sys.argv[1], namespace=sys.argv[2], quiet=True) as cluster:
        assert cluster.shutdown_on_close is False
        with Client(cluster) as client:
            print("RESULT", client.submit(lambda x: x * 2, 21).result())
            print("WORKERS", len(client.scheduler_info(n_workers=-1)["workers"]))
    """
)


def autoscaler_exists(kubeconfig: str, namespace: str, name: str) -> bool:
    return name in object_names(kubeconfig, "daskautoscalers", namespace)


def test_cluster_lifecycle(operator_cluster: Any, namespace: str) -> None:
    kubeconfig = operator_cluster.kubeconfig
    name = "lifecycle"
    with KubeCluster(
        name=name,
        namespace=namespace,
        image=IMAGE,
        n_workers=1,
        resource_timeout=RESOURCE_TIMEOUT,
        quiet=True,
    ) as cluster:
        assert cluster.shutdown_on_close is True
        assert cluster.dashboard_link.startswith("http://")
        assert name in repr(cluster)
        assert name in cluster._repr_html_()  # the Jupyter widget's fallback
        console = Console(record=True, width=100, color_system=None)
        console.print(cluster)
        assert f"KubeCluster '{name}'" in console.export_text()
        with Client(cluster) as client:
            assert client.submit(lambda x: x + 1, 10).result() == 11

            # 1 -> 4 -> 1, with scattered data (no lineage to recompute it) that must survive.
            cluster.scale(4)
            client.wait_for_workers(4, timeout=RESOURCE_TIMEOUT)
            held = client.scatter(list(range(16)))
            holders = {w for ws in client.who_has(held).values() for w in ws}
            assert len(holders) > 1, f"scattered data should spread over workers: {holders}"
            cluster.scale(1)
            wait_until(
                lambda: len(client.scheduler_info(n_workers=-1)["workers"]) == 1,
                RESOURCE_TIMEOUT,
                "scale down to 1 worker",
            )
            assert client.gather(held) == list(range(16))

            # adapt() hands scaling to the operator's DaskAutoscaler; scale() takes it back.
            cluster.adapt(minimum=2, maximum=3)
            assert autoscaler_exists(kubeconfig, namespace, name)
            client.wait_for_workers(2, timeout=RESOURCE_TIMEOUT)
            assert client.submit(sum, [1, 2, 3]).result() == 6
            cluster.scale(1)
            assert not autoscaler_exists(kubeconfig, namespace, name)

            # Another process reattaches by name, and leaves the cluster running when it closes.
            proc = subprocess.run(
                [sys.executable, "-c", FROM_NAME_SCRIPT, name, namespace],
                capture_output=True,
                text=True,
                timeout=RESOURCE_TIMEOUT,
                check=False,
            )
            assert proc.returncode == 0, proc.stderr
            assert "RESULT 42" in proc.stdout
            assert client.submit(lambda: "still here").result() == "still here"

        logs = cluster.get_logs()
        scheduler_logs = [text for pod, text in logs.items() if "scheduler" in pod]
        assert scheduler_logs and "Scheduler at" in scheduler_logs[0]
        assert any("worker" in pod for pod in logs)

    wait_until(
        lambda: not cluster_pods(kubeconfig, namespace, name),
        RESOURCE_TIMEOUT,
        "the cluster's pods to be deleted after close()",
    )
    assert name not in object_names(kubeconfig, "daskclusters", namespace)
