"""The gateway's pure parts, without a cluster: manifests, limits, path and header checks."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from dask_kubernetes.gateway import credentials, dashboard, limits, names, state
from dask_kubernetes.gateway import manifests as m
from dask_kubernetes.gateway.config import OperatorClusterConfig
from dask_kubernetes.gateway.preload import PRELOAD
from dask_kubernetes.operator import dask_tls
from dask_kubernetes.operator import vocabulary as v


def _config(**overrides: object) -> dict[str, object]:
    config = OperatorClusterConfig(**overrides)
    return {k: val for k, val in config.to_dict().items()}


def _cluster(user: str = "someone@example.org (Ünïcode)", **config: object) -> dict[str, object]:
    return m.daskcluster(
        names.new_cluster_name(),
        username=user,
        instance="gw",
        options={"size": "small"},
        config=_config(**config),
        api_url="http://gateway:8000/api",
        heartbeat_period=5,
    )


def test_user_name_only_in_an_annotation() -> None:
    user = "someone@example.org (Ünïcode)"
    obj = _cluster(user)
    meta = obj["metadata"]
    assert meta["annotations"][names.USER_ANNOTATION] == user
    assert user not in str(meta["labels"]) and user not in meta["name"]
    assert meta["labels"] == {names.INSTANCE_LABEL: "gw"}
    assert v.is_label(meta["name"]) and names.is_cluster_name(meta["name"])


def test_cluster_is_tls_with_dask_commands_and_both_preloads() -> None:
    obj = _cluster()
    assert obj["spec"]["tls"] is True
    scheduler = obj["spec"]["scheduler"]["spec"]["containers"][0]
    worker = obj["spec"]["worker"]["spec"]["containers"][0]
    assert scheduler["args"][:2] == ["dask", "scheduler"]
    assert worker["args"][:2] == ["dask", "worker"]
    assert "--protocol" in scheduler["args"] and "tls" in scheduler["args"]
    env = {e["name"]: e for e in scheduler["env"]}
    preloads = eval(env[m.PRELOAD_ENV]["value"])
    assert preloads == [dask_tls.API_GUARD_PRELOAD, PRELOAD]
    token = env["DASK_GATEWAY_API_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token == {"name": names.gateway_secret_name(obj["metadata"]["name"]), "key": "api-token"}
    assert obj["spec"]["worker"]["replicas"] == 0


def test_preload_never_retires_workers_itself() -> None:
    compile(PRELOAD, "preload", "exec")
    assert "retire_workers" not in PRELOAD
    assert '"closing_workers": []' in PRELOAD


def test_image_allowlist_refuses_whoever_sets_it() -> None:
    allowed = ["ghcr.io/dask/dask:1", "ghcr.io/dask/dask:2"]
    config = OperatorClusterConfig(image_allowlist=allowed, image="ghcr.io/dask/dask:1")
    with pytest.raises(Exception, match="not allowed"):
        config.image = "evil/miner"
    late = OperatorClusterConfig(image="evil/miner")
    late.image_allowlist = allowed
    with pytest.raises(ValueError, match="not allowed"):
        late.check_image()


def test_client_credentials_bundle_loads_as_dask_gateway_loads_it(tmp_path: Path) -> None:
    data = dask_tls.issue_credentials("ns", "dg-x")
    cert, key = m.client_credentials(data)
    cert_path, key_path = tmp_path / "dask.crt", tmp_path / "dask.pem"
    cert_path.write_bytes(cert)
    key_path.write_bytes(key)
    context = ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH, cafile=cert_path)
    context.load_cert_chain(cert_path, key_path)  # the client certificate matches the key
    assert any("dask-cluster ns/dg-x" in str(c.get("subject")) for c in context.get_ca_certs())


@pytest.mark.parametrize(
    ("tail", "refused"),
    [
        ("status", False),
        ("individual-task-stream", False),
        ("statics/css/base.css", False),
        ("api/v1/retire_workers", True),
        ("API/v1/get_workers", True),
        ("/api/v1/get_workers", True),
        ("status/../api/v1/get_workers", True),
        ("./api", True),
        ("%61pi/v1", True),
        ("status\\..\\api", True),
    ],
)
def test_dashboard_paths(tail: str, refused: bool) -> None:
    assert dashboard.refused(tail) is refused


@pytest.mark.parametrize(
    ("header", "bad"),
    [
        ("Basic YWxpY2U6cHc=", False),
        ("token abc", False),
        ("Negotiate xyz", False),
        ("token", True),
        ("Basic !!!", True),
        ("Basic YWxpY2U=", True),
        ("", True),
    ],
)
def test_malformed_authorization(header: str, bad: bool) -> None:
    assert credentials.malformed(header) is bad


def _with_scale(obj: dict[str, object], workers: int) -> dict[str, object]:
    return m.with_replicas(obj, workers)


def test_limits_count_clusters_cores_and_memory() -> None:
    small = _cluster(worker_cores=1, scheduler_cores=1, worker_memory="1 G", scheduler_memory="1 G")
    user_limits = limits.UserLimits(max_clusters=2, max_cores=5, max_memory=4 * 2**30)
    two = [small, _with_scale(small, 1)]
    assert "already has 2 clusters" in str(
        limits.new_cluster_problem(user_limits, "u", two, 1, 2**30)
    )
    assert limits.new_cluster_problem(user_limits, "u", [small], 1, 2**30) is None
    assert state.cores_and_memory(_with_scale(small, 3)) == (4.0, 4 * 2**30)
    # others hold 2 cores and 2 GiB: this cluster may have 1 + n <= 3 cores, 1 + n <= 2 GiB
    assert limits.workers_allowed(user_limits, [_with_scale(small, 1)], small, 10) == 1
    assert limits.workers_allowed(limits.UserLimits(), [], small, 10) == 10


def test_gateway_command_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "dask_kubernetes.gateway", "--config"]
    missing = subprocess.run(
        [*command, str(tmp_path / "none.py")], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "no config file" in missing.stderr
    bad = tmp_path / "bad.py"
    bad.write_text("c.OperatorBackend.namespace = 'Bad_NS'\n")
    result = subprocess.run([*command, str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "DNS-1123" in result.stdout + result.stderr
