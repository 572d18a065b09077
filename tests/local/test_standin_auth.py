"""Attacks on the whole stand-in: another local user, clients without the token, pods reaching for
the admin's token; and the clients the project runs (kubectl, kr8s, pods) still working over TLS."""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import ssl
import subprocess
import sys
import tempfile
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from standin_support import api, create_pod, logs, python_pod, wait_for, wait_for_phase

from dask_kubernetes.local import LocalKubernetes

KUBECTL = shutil.which("kubectl")

# Run as another user with the system Python (stdlib only): read the kubeconfig, then try to
# create a pod that would leave a file behind, without a token and with a guessed one.
ATTACK = textwrap.dedent(
    """
    import json, os, ssl, sys, urllib.error, urllib.request
    kubeconfig, url, marker = sys.argv[1:4]
    result = {"uid": os.getuid()}
    try:
        open(kubeconfig).read()
        result["read"] = "allowed"
    except PermissionError:
        result["read"] = "denied"
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "intruder", "namespace": "default"},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": "python:3",
            "args": ["python", "-c", "open(%r, 'w').write('ran')" % marker]}]},
    }
    statuses = []
    for header in ({}, {"Authorization": "Bearer guessed"}):
        request = urllib.request.Request(
            url + "/api/v1/namespaces/default/pods", data=json.dumps(pod).encode(),
            method="POST", headers={"Content-Type": "application/json", **header})
        try:
            with urllib.request.urlopen(
                request, timeout=10, context=ssl._create_unverified_context()
            ) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)
    result["statuses"] = statuses
    print(json.dumps(result))
    """
)


@pytest.fixture
def shared_directory() -> Iterator[Path]:
    """A directory other users may read (0755), so only the kubeconfig's own mode protects it."""
    directory = Path(tempfile.mkdtemp(prefix="dask-k8s-auth-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _as_nobody() -> None:
    nobody = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="needs root to run the attacker as another local user (nobody)",
)
def test_another_local_user_can_neither_read_the_kubeconfig_nor_start_a_pod(
    shared_directory: Path,
) -> None:
    kubeconfig = shared_directory / "config"
    marker = shared_directory / "intruder-ran"
    system_python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    with LocalKubernetes(kubeconfig=kubeconfig) as k8s:
        assert kubeconfig.stat().st_mode & 0o777 == 0o600
        assert k8s.state_dir.stat().st_mode & 0o077 == 0  # pods' and the kubelet's files
        attack = subprocess.run(
            [system_python, "-c", ATTACK, str(kubeconfig), k8s.url, str(marker)],
            preexec_fn=_as_nobody,
            cwd="/",
            env={"PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert attack.returncode == 0, attack.stderr
        result = json.loads(attack.stdout)
        assert result == {
            "uid": pwd.getpwnam("nobody").pw_uid,
            "read": "denied",
            "statuses": [401, 401],
        }
        # The kubelet handles pods in order: once a later, legitimate pod has run, an intruder
        # that had been stored would have run too.
        witness = create_pod(
            k8s.kubeconfig, python_pod("witness", "default", "print('witness ran')")
        )
        assert wait_for_phase(witness, "Succeeded", "Failed") == "Succeeded"
        names = [p.name for p in api(k8s.kubeconfig).get("pods", namespace="default")]
        assert names == ["witness"]
        assert k8s.kubelet is not None
        assert not [key for key in k8s.kubelet.runners if "intruder" in key]
        assert not marker.exists()
        refused = [r for r in k8s.api_server.audit if r.code == 401] if k8s.api_server else []
        assert [(r.verb, r.resource) for r in refused] == [("create", "pods")] * 2


def _with_guessed_token(kubeconfig: str, target: Path) -> Path:
    config = yaml.safe_load(Path(kubeconfig).read_text())
    for user in config["users"]:
        user["user"]["token"] = "guessed"
    target.write_text(yaml.safe_dump(config))
    return target


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_needs_the_token_and_trusts_the_generated_ca(
    k8s_cluster: Any, tmp_path: Path
) -> None:
    if not k8s_cluster.local:
        pytest.skip("checks the stand-in's own kubeconfig")
    assert KUBECTL is not None
    config = yaml.safe_load(Path(k8s_cluster.kubeconfig).read_text())
    cluster = config["clusters"][-1]["cluster"]
    assert cluster["server"].startswith("https://127.0.0.1:")
    assert cluster["certificate-authority-data"]
    assert Path(k8s_cluster.kubeconfig).stat().st_mode & 0o777 == 0o600
    ok = subprocess.run(
        [KUBECTL, "--kubeconfig", k8s_cluster.kubeconfig, "get", "namespaces", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and "namespace/default" in ok.stdout, ok.stderr
    guessed = _with_guessed_token(k8s_cluster.kubeconfig, tmp_path / "guessed")
    refused = subprocess.run(
        [KUBECTL, "--kubeconfig", str(guessed), "get", "pods"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "Unauthorized" in refused.stderr


POD_CLIENT = """
import os, kr8s, yaml
config = yaml.safe_load(open(os.environ["KUBECONFIG"]))
print("TOKEN", config["users"][0]["user"]["token"])
print("PODS", sorted(p.name for p in kr8s.get("pods")))
"""


def test_a_pod_gets_a_token_of_its_own_bound_to_it(k8s_cluster: Any, k8s_namespace: str) -> None:
    server = k8s_cluster.require_api_server()
    pod = create_pod(k8s_cluster.kubeconfig, python_pod("client", k8s_namespace, POD_CLIENT))
    assert wait_for_phase(pod, "Succeeded", "Failed") == "Succeeded", logs(pod)
    output = dict(line.split(" ", 1) for line in logs(pod).splitlines())
    assert output["PODS"] == "['client']"  # its kubeconfig's namespace is the pod's own
    pod_token = output["TOKEN"]
    assert pod_token != server.admin_token
    user = f"system:serviceaccount:{k8s_namespace}:default"
    assert any(r.user == user and r.verb == "list" and r.resource == "pods" for r in server.audit)
    kubeconfig = server.state_dir / "pods" / k8s_namespace / "client" / "kubeconfig"
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    pod.delete()
    wait_for(lambda: not pod.exists(), "the pod to be gone")
    request = urllib.request.Request(
        f"{server.url}/api/v1/namespaces/{k8s_namespace}/pods",
        headers={"Authorization": f"Bearer {pod_token}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10, context=_trusting(k8s_cluster.kubeconfig))
    assert refused.value.code == 401


def _trusting(kubeconfig: str) -> ssl.SSLContext:
    config = yaml.safe_load(Path(kubeconfig).read_text())
    ca = base64.b64decode(config["clusters"][-1]["cluster"]["certificate-authority-data"])
    return ssl.create_default_context(cadata=ca.decode())


def test_tls_can_be_turned_off_but_the_token_stays_required() -> None:
    with LocalKubernetes(tls=False) as k8s:
        assert k8s.url.startswith("http://")
        config = yaml.safe_load(Path(k8s.kubeconfig).read_text())
        assert "certificate-authority-data" not in config["clusters"][0]["cluster"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{k8s.url}/api/v1/namespaces", timeout=10)
        assert refused.value.code == 401
        assert "default" in [n.name for n in api(k8s.kubeconfig).get("namespaces")]
