"""Pods run as real processes and report what really happened, through the Kubernetes API only."""

from __future__ import annotations

from pathlib import Path

import pytest
from standin_support import (
    container_status,
    create_pod,
    is_ready,
    logs,
    python_pod,
    require_shared_filesystem,
    wait_for,
    wait_for_phase,
)


def test_pod_runs_with_env_downward_api_and_expanded_args(k8s_cluster, k8s_namespace) -> None:
    manifest = python_pod(
        "hello",
        k8s_namespace,
        "import os, sys; print('hello', sys.argv[1:], os.environ['MY_NS'], os.environ['GREETING'])",
        env=[
            {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "GREETING", "value": "hi-$(MY_NAME)"},
        ],
    )
    manifest["spec"]["containers"][0]["args"] += ["$(MY_NAME)", "$$(MY_NAME)"]
    pod = create_pod(k8s_cluster.kubeconfig, manifest)
    assert wait_for_phase(pod, "Succeeded", "Failed") == "Succeeded"
    status = container_status(pod)
    assert status["state"]["terminated"]["exitCode"] == 0
    assert status["state"]["terminated"]["reason"] == "Completed"
    assert pod.raw["status"]["podIP"].startswith("127.")
    assert pod.spec["nodeName"]
    assert logs(pod) == f"hello ['hello', '$(MY_NAME)'] {k8s_namespace} hi-hello"


def test_failing_pod_reports_its_exit_code(k8s_cluster, k8s_namespace) -> None:
    pod = create_pod(
        k8s_cluster.kubeconfig,
        python_pod("fails", k8s_namespace, "import sys; print('oops'); sys.exit(3)"),
    )
    assert wait_for_phase(pod, "Succeeded", "Failed") == "Failed"
    terminated = container_status(pod)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")


def test_on_failure_restarts_until_success_and_keeps_previous_log(
    k8s_cluster, k8s_namespace, tmp_path: Path
) -> None:
    require_shared_filesystem(k8s_cluster)
    marker = tmp_path / "attempted"
    code = (
        "import os, sys\n"
        f"m = {str(marker)!r}\n"
        "if not os.path.exists(m):\n"
        "    open(m, 'w').close(); print('first try'); sys.exit(1)\n"
        "print('second try')\n"
    )
    pod = create_pod(
        k8s_cluster.kubeconfig,
        python_pod("flaky", k8s_namespace, code, restart_policy="OnFailure"),
    )
    assert wait_for_phase(pod, "Succeeded", "Failed") == "Succeeded"
    status = container_status(pod)
    assert status["restartCount"] == 1
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert logs(pod) == "second try"
    assert logs(pod, previous=True) == "first try"


def _pid(pod) -> int:
    return int(container_status(pod)["containerID"].removeprefix("local://"))


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.split(")")[-1].split()[0] == "Z"


def test_delete_sends_sigterm_then_pod_disappears(k8s_cluster, k8s_namespace) -> None:
    code = (
        "import signal, sys, time\n"
        "def bye(*_):\n"
        "    print('got SIGTERM', flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('up', flush=True)\n"
        "time.sleep(600)\n"
    )
    pod = create_pod(k8s_cluster.kubeconfig, python_pod("graceful", k8s_namespace, code))
    wait_for(lambda: "up" in logs(pod), "the pod to print 'up'")
    pid = _pid(pod)
    log_file = None
    if k8s_cluster.local:
        log_file = Path(
            k8s_cluster.stand_in.state_dir, "logs", k8s_namespace, "graceful", "main.log"
        )
    pod.delete()
    wait_for(lambda: not pod.exists(), "the pod to be deleted")
    if k8s_cluster.local:
        assert _gone(pid)
        assert "got SIGTERM" in log_file.read_text()


@pytest.mark.slow
def test_sigterm_ignored_is_killed_after_the_grace_period(k8s_cluster, k8s_namespace) -> None:
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('up', flush=True)\n"
        "time.sleep(600)\n"
    )
    manifest = python_pod("stubborn", k8s_namespace, code)
    manifest["spec"]["terminationGracePeriodSeconds"] = 1
    pod = create_pod(k8s_cluster.kubeconfig, manifest)
    wait_for(lambda: "up" in logs(pod), "the pod to print 'up'")
    pid = _pid(pod)
    pod.delete()
    wait_for(lambda: not pod.exists(), "the pod to be deleted", timeout=15)
    if k8s_cluster.local:
        assert _gone(pid)


def test_readiness_probe_gates_ready(k8s_cluster, k8s_namespace, tmp_path: Path) -> None:
    require_shared_filesystem(k8s_cluster)
    served = tmp_path / "www"
    served.mkdir()
    manifest = python_pod(
        "web",
        k8s_namespace,
        "import http.server, functools, os\n"
        f"h = functools.partial(http.server.SimpleHTTPRequestHandler, directory={str(served)!r})\n"
        "http.server.ThreadingHTTPServer(('', 8080), h).serve_forever()\n",
        ports=[{"name": "http", "containerPort": 8080}],
        readinessProbe={
            "httpGet": {"path": "/ready", "port": "http"},
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
    )
    pod = create_pod(k8s_cluster.kubeconfig, manifest)
    assert wait_for_phase(pod, "Running") == "Running"
    wait_for(lambda: container_status(pod).get("started"), "the container to start")
    assert not is_ready(pod)
    (served / "ready").write_text("ok")
    wait_for(lambda: is_ready(pod), "the readiness probe to pass", timeout=15)
    (served / "ready").unlink()
    wait_for(lambda: not is_ready(pod), "the readiness probe to fail again", timeout=15)


def test_init_containers_run_first_then_the_main_container(k8s_cluster, k8s_namespace) -> None:
    manifest = python_pod("inits", k8s_namespace, "print('main')")
    manifest["spec"]["initContainers"] = [
        {"name": f"init-{i}", "image": "python:3", "args": ["python", "-c", f"print('init {i}')"]}
        for i in range(2)
    ]
    pod = create_pod(k8s_cluster.kubeconfig, manifest)
    assert wait_for_phase(pod, "Succeeded", "Failed") == "Succeeded"
    inits = pod.raw["status"]["initContainerStatuses"]
    assert [s["state"]["terminated"]["exitCode"] for s in inits] == [0, 0]
    first_init_done = inits[0]["state"]["terminated"]["finishedAt"]
    main_started = container_status(pod)["state"]["terminated"]["startedAt"]
    assert first_init_done <= main_started
    assert logs(pod) == "main"


def test_failing_liveness_probe_restarts_the_container(k8s_cluster, k8s_namespace) -> None:
    manifest = python_pod(
        "unhealthy",
        k8s_namespace,
        "import time; print('up', flush=True); time.sleep(600)",
        restart_policy="Always",
        livenessProbe={"tcpSocket": {"port": 9}, "periodSeconds": 1, "failureThreshold": 1},
    )
    pod = create_pod(k8s_cluster.kubeconfig, manifest)

    def restarted() -> dict | None:
        status = container_status(pod)
        return status if status.get("restartCount", 0) >= 1 else None

    status = wait_for(restarted, "a restart after the liveness probe failed", timeout=30)
    assert status["lastState"]["terminated"]["exitCode"] == 128 + 9
    pod.delete()


def test_a_pod_can_use_the_kubernetes_api(k8s_cluster, k8s_namespace) -> None:
    if not k8s_cluster.local:
        pytest.skip("a real cluster needs RBAC for the pod's service account")
    code = (
        "import os, kr8s\n"
        "ns = os.environ['NS']\n"
        "print(sorted(p.name for p in kr8s.get('pods', namespace=ns)))\n"
    )
    manifest = python_pod(
        "api-user",
        k8s_namespace,
        code,
        env=[{"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
    )
    pod = create_pod(k8s_cluster.kubeconfig, manifest)
    assert wait_for_phase(pod, "Succeeded", "Failed", timeout=60) == "Succeeded", logs(pod)
    assert logs(pod) == "['api-user']"
