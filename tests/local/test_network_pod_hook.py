"""The start-up hook gives a pod process cluster DNS, pod-IP binds and the pod's own identity.

Each test runs a real Python subprocess with the hook on PYTHONPATH, as the kubelet starts pods.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dask_kubernetes.local.network import pod_hook

POD_IP = "127.77.0.9"


@pytest.fixture
def hook_env(tmp_path: Path) -> dict[str, str]:
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    shutil.copyfile(pod_hook.__file__, hook_dir / "sitecustomize.py")
    dns = tmp_path / "dns.json"
    dns.write_text(json.dumps({"hosts": {"sched.ns1.svc.cluster.local": ["127.77.128.4"]}}))
    return {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(hook_dir),
        pod_hook.POD_IP: POD_IP,
        pod_hook.NAMESPACE: "ns1",
        pod_hook.DNS_FILE: str(dns),
        pod_hook.HOSTNAME: "sched-pod",
        pod_hook.HOOK_DIR: str(hook_dir),
    }


def run_in_pod(env: dict[str, str], code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_cluster_dns_names_resolve_to_the_service_ip(hook_env: dict[str, str]) -> None:
    out = run_in_pod(
        hook_env,
        """
        import socket
        names = ["sched", "sched.ns1", "sched.ns1.svc", "sched.ns1.svc.cluster.local",
                 "sched.ns1.svc.cluster.local."]
        print(sorted({socket.gethostbyname(n) for n in names}))
        print(socket.getaddrinfo("sched.ns1", 8786, type=socket.SOCK_STREAM)[0][4])
        print(socket.gethostname(), socket.gethostbyname(socket.gethostname()))
        try:
            socket.gethostbyname("sched.other")
        except OSError:
            print("other namespace: not found")
        """,
    )
    assert out.splitlines() == [
        "['127.77.128.4']",
        "('127.77.128.4', 8786)",
        f"sched-pod {POD_IP}",
        "other namespace: not found",
    ]


def test_wildcard_binds_and_get_ip_answer_the_pod_ip(hook_env: dict[str, str]) -> None:
    out = run_in_pod(
        hook_env,
        """
        import socket
        from distributed.utils import get_ip
        from tornado.netutil import bind_sockets
        s = socket.socket()
        s.bind(("0.0.0.0", 0))
        print(s.getsockname()[0])
        print(sorted({sock.getsockname()[0] for sock in bind_sockets(0, address=None)}))
        print(get_ip())
        """,
    )
    assert out.splitlines() == [POD_IP, f"['{POD_IP}']", POD_IP]


def test_an_existing_sitecustomize_still_runs(hook_env: dict[str, str], tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import builtins\nbuiltins.THEIRS = 42\n")
    hook_env["PYTHONPATH"] += os.pathsep + str(theirs)
    out = run_in_pod(
        hook_env, "import builtins, socket; print(builtins.THEIRS, socket.gethostname())"
    )
    assert out == "42 sched-pod"


def test_dns_map_changes_are_picked_up(hook_env: dict[str, str]) -> None:
    dns = Path(hook_env[pod_hook.DNS_FILE])
    code = f"""
        import json, os, socket
        print(socket.gethostbyname("sched"))
        with open({str(dns)!r}, "w") as f:
            json.dump({{"hosts": {{"sched.ns1.svc.cluster.local": ["127.77.128.5"]}}}}, f)
        os.utime({str(dns)!r}, (1, 1))
        print(socket.gethostbyname("sched"))
        """
    assert run_in_pod(hook_env, code).splitlines() == ["127.77.128.4", "127.77.128.5"]
