"""What users of upstream dask-kubernetes 2026.3.0 do day to day, on our stack (issue 15).

A script that exits without `close()`, a NodePort scheduler Service (reached on the real plane's
node at the host's 127.0.0.1, port-forwarded where the API lists no node addresses, as on the
emulated plane or a locked-down cluster), `dask kubernetes delete A B`.
"""

# mypy: disable-error-code="no-untyped-call"
# (distributed.Client is unannotated.)
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import kr8s
import pytest
from distributed import Client
from e2e_helpers import (
    DASK_CLI,
    IMAGE,
    RESOURCE_TIMEOUT,
    kube_cluster,
    object_names,
    skip_on_the_container_node,
    wait_until,
)

from dask_kubernetes.operator.kubecluster.networking import NODE_ADDRESS_PREFERENCE
from dask_kubernetes.operator.vocabulary import SCHEDULER_PORT_NAME

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

SCRIPT_WITHOUT_CLOSE = """
import sys
from dask_kubernetes.operator import KubeCluster

cluster = KubeCluster(name=sys.argv[1], namespace=sys.argv[2], image=sys.argv[3],
                      n_workers=1, resource_timeout=float(sys.argv[4]), quiet=True)
print("created", cluster.name, flush=True)
"""


SCRIPT_ARGS = (IMAGE, str(RESOURCE_TIMEOUT))
ASYNC_SCRIPT_WITHOUT_CLOSE = """
import asyncio, sys
from dask_kubernetes.operator import KubeCluster

async def main():
    cluster = await KubeCluster(name=sys.argv[1], namespace=sys.argv[2], image=sys.argv[3],
                                n_workers=0, resource_timeout=float(sys.argv[4]), quiet=True,
                                asynchronous=True)
    print("created", cluster.name, flush=True)

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("script", "name"),
    [(SCRIPT_WITHOUT_CLOSE, "unclosed"), (ASYNC_SCRIPT_WITHOUT_CLOSE, "unclosed-async")],
    ids=["sync", "asynchronous"],
)
def test_script_exiting_without_close_deletes_its_cluster(
    operator_cluster: Any, namespace: str, script: str, name: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), name, namespace, *SCRIPT_ARGS],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "KUBECONFIG": operator_cluster.kubeconfig},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"created {name}" in result.stdout
    assert "could not delete" not in result.stderr, result.stderr[-2000:]
    assert "after interpreter shutdown" not in result.stderr, result.stderr[-2000:]

    # The exit hook waits (30 s) for the deletion to finish, so it is gone as the process ends;
    # where its pods stop slowly (a real node's graceful stop, on busy cores) it says the
    # deletion is still under way, and the cluster goes with nothing more from anyone.
    def gone() -> bool:
        return name not in object_names(operator_cluster.kubeconfig, "daskclusters", namespace)

    if "is still being deleted" in result.stderr:
        wait_until(gone, 120, "the cluster whose deletion was under way at exit to go")
    assert gone()


def test_connected_script_exiting_leaves_the_cluster(operator_cluster: Any, namespace: str) -> None:
    """The other half of upstream's rule: a cluster we only connected to is not ours to delete."""
    with kube_cluster("kept", namespace):
        script = (
            "import sys\n"
            "from dask_kubernetes.operator import KubeCluster\n"
            "KubeCluster.from_name(sys.argv[1], namespace=sys.argv[2], quiet=True)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script, "kept", namespace],
            capture_output=True,
            text=True,
            timeout=240,
            env={**os.environ, "KUBECONFIG": operator_cluster.kubeconfig},
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "kept" in object_names(operator_cluster.kubeconfig, "daskclusters", namespace)


def skip_on_a_real_cluster(cluster: Any) -> None:
    if not cluster.local:
        pytest.skip("a real cluster lists its nodes; this is about the stand-in's planes")


def node_port_address(kubeconfig: str) -> str | None:
    """The node address KubeCluster dials a node port on (its order of address types)."""
    api = kr8s.api(kubeconfig=kubeconfig)
    nodes: list[Any] = list(api.get("nodes", raw=True))
    addresses = [a for n in nodes for a in (n.get("status") or {}).get("addresses", [])]
    for wanted in NODE_ADDRESS_PREFERENCE:
        for address in addresses:
            if address.get("type") == wanted and address.get("address"):
                return str(address["address"])
    return None


def host_connections_into_the_cluster() -> list[str]:
    """TCP sockets of the *host* namespace with a peer in the cluster's namespace-only ranges
    (`ss` reads the kernel's table; it sends nothing). A connect from the host to one of them
    would go to the default gateway: there must never be any."""
    ranges = ("10.240.0.0/16", "10.244.0.0/16", "10.96.0.0/12")
    found: list[str] = []
    for cidr in ranges:
        result = subprocess.run(
            ["ss", "-tnH", "state", "all", "dst", cidr],
            capture_output=True,
            text=True,
            check=True,
        )
        found += [line for line in result.stdout.splitlines() if line.strip()]
    return found


def test_node_port_service_from_the_host(operator_cluster: Any, namespace: str) -> None:
    skip_on_a_real_cluster(operator_cluster)
    skip_on_the_container_node(operator_cluster, "node ports")
    preferred = node_port_address(operator_cluster.kubeconfig)
    if operator_cluster.plane == "real":
        # The node's InternalIP exists only inside the cluster's network namespace; its
        # ExternalIP is the host's loopback, where the network agent listens on node ports.
        assert preferred == "127.0.0.1"
    else:
        # The emulated node lists no addresses (a locked-down cluster's view): port-forward.
        assert preferred is None
    with kube_cluster(
        "nodeport", namespace, n_workers=1, scheduler_service_type="NodePort"
    ) as cluster:
        assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
        if operator_cluster.plane == "real":
            api = kr8s.api(kubeconfig=operator_cluster.kubeconfig)
            service = next(
                iter(api.get("services", "nodeport-scheduler", namespace=namespace, raw=True))
            )
            node_ports = {p["name"]: p["nodePort"] for p in service["spec"]["ports"]}
            assert cluster.scheduler_address == f"tls://127.0.0.1:{node_ports[SCHEDULER_PORT_NAME]}"
        with Client(cluster) as client:
            assert client.submit(lambda: "via nodeport").result() == "via nodeport"
            if operator_cluster.plane == "real":
                assert host_connections_into_the_cluster() == []
        dashboard = cluster.dashboard_link
        assert dashboard.startswith("http://127.0.0.1:")


def test_cli_port_forward_a_node_port_cluster(operator_cluster: Any, namespace: str) -> None:
    skip_on_a_real_cluster(operator_cluster)
    skip_on_the_container_node(operator_cluster, "node ports")
    with kube_cluster("npcli", namespace, scheduler_service_type="NodePort"):
        command = [*DASK_CLI, "kubernetes", "port-forward", "npcli"]
        process = subprocess.Popen(
            [*command, "-n", namespace],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "KUBECONFIG": operator_cluster.kubeconfig},
        )
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            assert first.startswith("Scheduler at: tls://127.0.0.1:"), first + (
                process.stderr.read() if process.poll() is not None and process.stderr else ""
            )
        finally:
            process.terminate()
            process.wait(30)
        if operator_cluster.plane == "real":
            assert host_connections_into_the_cluster() == []


def test_cli_delete_several_names(operator_cluster: Any, namespace: str) -> None:
    for name in ("first", "second"):
        kube_cluster(name, namespace, shutdown_on_close=False).close()
    env = {**os.environ, "KUBECONFIG": operator_cluster.kubeconfig}
    dask = [*DASK_CLI, "kubernetes"]
    result = subprocess.run(
        [*dask, "delete", "first", "second", "-n", namespace],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"Deleted {namespace}/first",
        f"Deleted {namespace}/second",
    ]
    wait_until(
        lambda: not object_names(operator_cluster.kubeconfig, "daskclusters", namespace),
        60,
        "both clusters to be gone",
    )


def test_cli_delete_reports_missing_names_and_fails(operator_cluster: Any, namespace: str) -> None:
    kube_cluster("present", namespace, shutdown_on_close=False).close()
    result = subprocess.run(
        [*DASK_CLI, "kubernetes", "delete", "absent", "present", "-n", namespace],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": operator_cluster.kubeconfig},
        timeout=240,
    )
    # The one that exists is still deleted; the missing one makes the command fail.
    assert result.returncode == 1
    assert f"Deleted {namespace}/present" in result.stdout
    assert "'absent'" in result.stderr and "Traceback" not in result.stderr
    assert "present" not in object_names(operator_cluster.kubeconfig, "daskclusters", namespace)
