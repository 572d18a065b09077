"""Starting and stopping the stand-in: both context managers, kubeconfig merging, and no process
left behind after stop (by PID and by scanning /proc for the state dir)."""

from __future__ import annotations

from pathlib import Path

import kr8s
import pytest
import yaml
from kubernetes import client, config
from standin_support import create_pod, logs, python_pod, wait_for

from dask_kubernetes.local import LocalKubernetes
from dask_kubernetes.local.kubelet.process_scan import processes_of

# A pod whose process starts a child in its group and a grandchild in a new session (escaping the
# group), then prints all three PIDs.
SPAWNER = """
import os, subprocess, sys, time
code = "import time; time.sleep(600)"
child = subprocess.Popen([sys.executable, "-c", code])
escaped = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
print(os.getpid(), child.pid, escaped.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.split(")")[-1].split()[0] != "Z"


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with LocalKubernetes(state_dir) as k8s:
        pods = [
            create_pod(k8s.kubeconfig, python_pod(f"spawner-{i}", "default", SPAWNER))
            for i in range(2)
        ]
        pids = []
        for pod in pods:
            line = wait_for(lambda pod=pod: logs(pod).strip(), f"{pod.name} to print its PIDs")
            pids += [int(p) for p in line.split()]
        assert all(_alive(pid) for pid in pids)
        assert set(pids) <= set(processes_of(k8s.state_dir))
    assert [pid for pid in pids if _alive(pid)] == []
    assert processes_of(state_dir.resolve()) == []
    assert state_dir.exists()  # a state dir we were given is kept (logs stay readable)


@pytest.mark.asyncio
async def test_async_context_manager_and_owned_state_dir_cleanup() -> None:
    async with LocalKubernetes() as k8s:
        state_dir = k8s.state_dir
        api = await kr8s.asyncio.api(kubeconfig=k8s.kubeconfig)
        names = [ns.name async for ns in api.async_get("namespaces")]
        assert "default" in names
    assert not state_dir.exists()


def test_kubeconfig_is_merged_into_an_existing_file_and_removed_after(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    theirs = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "prod", "cluster": {"server": "https://prod.invalid"}}],
        "users": [{"name": "prod", "user": {}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod"}}],
        "current-context": "prod",
    }
    kubeconfig.write_text(yaml.safe_dump(theirs))
    with LocalKubernetes(kubeconfig=kubeconfig) as k8s:
        merged = yaml.safe_load(kubeconfig.read_text())
        assert [c["name"] for c in merged["contexts"]] == ["prod", k8s.context]
        # The official client follows the current context to the stand-in.
        api_client = config.new_client_from_config(config_file=str(kubeconfig))
        with api_client:
            pods = client.CoreV1Api(api_client).list_namespaced_pod("default")
        assert pods.items == []
    after = yaml.safe_load(kubeconfig.read_text())
    assert [c["name"] for c in after["contexts"]] == ["prod"]
    assert after["current-context"] == "prod"


def test_official_client_sees_pod_status_and_logs(k8s_cluster, k8s_namespace) -> None:
    pod = create_pod(k8s_cluster.kubeconfig, python_pod("logger", k8s_namespace, "print('a\\nb')"))
    api_client = config.new_client_from_config(config_file=k8s_cluster.kubeconfig)
    with api_client:
        core = client.CoreV1Api(api_client)
        wait_for(
            lambda: core.read_namespaced_pod(pod.name, k8s_namespace).status.phase == "Succeeded",
            "the pod to succeed",
        )
        assert core.read_namespaced_pod_log(pod.name, k8s_namespace) == "a\nb\n"
        assert core.read_namespaced_pod_log(pod.name, k8s_namespace, tail_lines=1) == "b\n"


def test_operator_true_without_the_operator_module_is_a_clear_error(monkeypatch) -> None:
    import importlib.util

    from dask_kubernetes.local import LocalKubernetesError

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "dask_kubernetes.operator" else real_find_spec(name, *a),
    )
    with pytest.raises(LocalKubernetesError, match="not installed"), LocalKubernetes(operator=True):
        pass
