"""The chart's `gateway.enabled`, rendered by helm itself: objects, RBAC, secrets, schema, config.

What an admin installs must hold without a cluster: the gateway's Role is exactly the rules file
(and only in its clusters' namespace), no credential is rendered in plain text, auth choices that
cannot work are refused with what to set, and the config file the pod runs turns the values into
the backend's settings (checked by executing it, as dask-gateway-server does).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "dask-kubernetes-operator"
RULES = CHART / "files" / "rbac-gateway-rules.yaml"
HELM = shutil.which("helm", path=str(Path(sys.executable).parent)) or shutil.which("helm")
GATEWAY = {"app.kubernetes.io/component": "gateway"}

needs_helm = pytest.mark.skipif(HELM is None, reason="helm is not installed (linux x86_64 only)")


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM is not None
    return subprocess.run(
        [HELM, *args], capture_output=True, text=True, timeout=300, check=False, env=os.environ
    )


def render(*values: str, namespace: str = "ops") -> list[dict[str, Any]]:
    sets = [a for v in values for a in ("--set", v)]
    done = _helm("template", "t", str(CHART), "--namespace", namespace, *sets)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def refused(*values: str) -> str:
    sets = [a for v in values for a in ("--set", v)]
    done = _helm("template", "t", str(CHART), "--namespace", "ops", *sets)
    assert done.returncode != 0, "helm rendered values it should refuse"
    return done.stderr


def gateway_docs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if GATEWAY.items() <= (d["metadata"].get("labels") or {}).items()]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [d for d in gateway_docs(docs) if d["kind"] == kind]
    return found


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    [gateway] = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(gateway)


def env(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(docs)["env"]}


def settings(docs: list[dict[str, Any]]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(one(docs, "ConfigMap")["data"]["settings.json"])
    return loaded


def rules_of(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


# -- schema (no helm needed) -------------------------------------------------------------------


def _values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return values


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return schema


def test_the_gateway_is_off_by_default_and_its_values_match_the_schema() -> None:
    values = _values()
    assert values["gateway"]["enabled"] is False
    jsonschema.validate(values, _schema())


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"auth": {"type": "ldap"}}, "an authenticator dask-gateway does not have"),
        ({"auth": {"type": "simple", "simple": {"password": "hunter2"}}}, "a plain password"),
        (
            {"auth": {"type": "jupyterhub", "jupyterhub": {"apiToken": "abc"}}},
            "a plain JupyterHub token",
        ),
        ({"clusterOptions": {"workerSizes": [], "images": ["x"]}}, "no size to choose"),
        ({"clusterOptions": {"workerSizes": [{"name": "s", "cores": 1}], "images": ["x"]}}, ""),
        ({"clusterOptions": {"workerSizes": [{"name": "s", "cores": 0, "memory": "1Gi"}]}}, ""),
        ({"limits": {"clustersPerUser": -1}}, "a negative limit"),
        ({"limits": {"clustersPerUser": 0}}, "0, which the backend would read as no limit"),
        ({"limits": {"coresPerUser": 0}}, "0, which the backend would read as no limit"),
        ({"limits": {"memoryPerUser": "lots"}}, "not a quantity"),
        ({"clustersNamespace": "Not_A_Namespace"}, "not an RFC 1123 label"),
        ({"service": {"type": "ExternalName", "port": 8000}}, "not a Service type it renders"),
    ],
)
def test_the_schema_refuses_gateway_values_that_cannot_work(
    change: dict[str, Any], why: str
) -> None:
    values = _values()
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(values["gateway"].get(key), dict):
            values["gateway"][key] = values["gateway"][key] | value
        else:
            values["gateway"][key] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(values, _schema())


def test_the_rules_file_is_plain_namespaced_and_without_wildcards() -> None:
    rules = yaml.safe_load(RULES.read_text())
    granted = rules_of({"rules": rules})
    assert {resource for _, resource, _ in granted} <= {"daskclusters", "secrets", "pods"}
    for rule in rules:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        assert "*" not in rule["apiGroups"]
    # Never a way to run code or read logs beside the clusters it makes.
    assert not {v for _, r, v in granted if r == "pods"} - {"get", "list", "watch"}


# -- rendered by helm --------------------------------------------------------------------------


@needs_helm
def test_the_default_render_has_no_gateway() -> None:
    assert gateway_docs(render()) == []


@needs_helm
def test_enabled_renders_the_gateways_own_objects_and_nothing_cluster_wide() -> None:
    docs = render("gateway.enabled=true")
    kinds = sorted(d["kind"] for d in gateway_docs(docs))
    assert kinds == sorted(
        ["ConfigMap", "Deployment", "Role", "RoleBinding", "Secret", "Service", "ServiceAccount"]
    )
    role, binding = one(docs, "Role"), one(docs, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "ops"
    assert rules_of(role) == rules_of({"rules": yaml.safe_load(RULES.read_text())})
    account = one(docs, "ServiceAccount")["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "ops"}]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account
    # The operator's bindings name only the operator's account.
    for doc in docs:
        if doc["kind"] in ("ClusterRoleBinding", "RoleBinding") and doc not in gateway_docs(docs):
            assert all(s["name"] != account for s in doc["subjects"])


@needs_helm
def test_the_gateways_pods_and_the_operators_never_select_each_other() -> None:
    docs = render("gateway.enabled=true")
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert len(deployments) == 2
    for owner in deployments:
        selector = owner["spec"]["selector"]["matchLabels"]
        for other in deployments:
            labels = other["spec"]["template"]["metadata"]["labels"]
            assert (selector.items() <= labels.items()) == (other is owner)
    service = one(docs, "Service")
    gateway_pod = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= gateway_pod.items()
    [port] = service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (8000, "proxy")


@needs_helm
def test_the_gateway_runs_hardened_as_the_operator_does() -> None:
    docs = render("gateway.enabled=true")
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container(docs)["securityContext"]["readOnlyRootFilesystem"] is True
    assert container(docs)["securityContext"]["allowPrivilegeEscalation"] is False
    probes = container(docs)["readinessProbe"], container(docs)["livenessProbe"]
    assert all(p["httpGet"] == {"path": "/api/health", "port": "proxy"} for p in probes)
    operator = next(d for d in docs if d["kind"] == "Deployment" and d not in gateway_docs(docs))
    assert (
        container(docs)["image"] == operator["spec"]["template"]["spec"]["containers"][0]["image"]
    )


@needs_helm
def test_no_credential_is_rendered_in_plain_text() -> None:
    docs = render("gateway.enabled=true")
    secret = one(docs, "Secret")
    assert set(secret["data"]) == {"proxy-token", "password"}
    values = {base64.b64decode(v).decode() for v in secret["data"].values()}
    assert all(len(v) >= 32 for v in values)
    rendered = yaml.safe_dump_all([d for d in docs if d is not secret])
    assert not any(v in rendered for v in values)
    variables = env(docs)
    for name in ("DASK_GATEWAY_PROXY_TOKEN", "DASK_GATEWAY_PASSWORD"):
        ref = variables[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"] and "value" not in variables[name]
    # Two renders, two different generated credentials (kept across upgrades by `lookup`).
    again = one(render("gateway.enabled=true"), "Secret")["data"]
    assert again["proxy-token"] != secret["data"]["proxy-token"]


@needs_helm
def test_an_admins_own_password_secret_is_used_and_none_generated() -> None:
    docs = render(
        "gateway.enabled=true",
        "gateway.auth.simple.passwordSecret.name=mine",
        "gateway.auth.simple.passwordSecret.key=pw",
    )
    ref = env(docs)["DASK_GATEWAY_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == ("mine", "pw")
    assert set(one(docs, "Secret")["data"]) == {"proxy-token"}


@needs_helm
def test_jupyterhub_auth_needs_the_hubs_url_and_takes_its_token_from_a_secret() -> None:
    assert "gateway.auth.jupyterhub.apiUrl" in refused(
        "gateway.enabled=true", "gateway.auth.type=jupyterhub"
    )
    docs = render(
        "gateway.enabled=true",
        "gateway.auth.type=jupyterhub",
        "gateway.auth.jupyterhub.apiUrl=http://hub.jhub:8081/hub/api",
    )
    variables = env(docs)
    assert "DASK_GATEWAY_PASSWORD" not in variables
    ref = variables["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref["key"] == "jupyterhub-api-token"
    assert "jupyterhub-api-token" in one(docs, "Secret")["data"]
    auth = settings(docs)["auth"]
    assert auth["jupyterhub"] == {
        "apiUrl": "http://hub.jhub:8081/hub/api",
        "serviceName": "dask-gateway",
    }


@needs_helm
def test_kerberos_auth_mounts_the_admins_keytab_read_only() -> None:
    assert "keytabSecret" in refused("gateway.enabled=true", "gateway.auth.type=kerberos")
    docs = render(
        "gateway.enabled=true",
        "gateway.auth.type=kerberos",
        "gateway.auth.kerberos.keytabSecret.name=gateway-keytab",
    )
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "keytab"]
    assert volume["secret"]["secretName"] == "gateway-keytab"
    [mount] = [m for m in container(docs)["volumeMounts"] if m["name"] == "keytab"]
    assert mount["readOnly"] is True
    assert env(docs)["DASK_GATEWAY_KEYTAB"]["value"] == f"{mount['mountPath']}/keytab"
    assert set(one(docs, "Secret")["data"]) == {"proxy-token"}


@needs_helm
def test_the_clusters_namespace_holds_the_role_and_must_be_watched() -> None:
    docs = render("gateway.enabled=true", "gateway.clustersNamespace=dask-users")
    assert one(docs, "Role")["metadata"]["namespace"] == "dask-users"
    assert one(docs, "RoleBinding")["subjects"][0]["namespace"] == "ops"
    assert settings(docs)["namespace"] == "dask-users"
    error = refused(
        "gateway.enabled=true", "gateway.clustersNamespace=dask-users", "rbac.clusterWide=false"
    )
    assert "watches only the release namespace" in error


@needs_helm
@pytest.mark.parametrize(
    "values",
    [
        ("gateway.enabled=true",),
        ("gateway.enabled=true", "gateway.replicas=2", "gateway.service.type=NodePort"),
        (
            "gateway.enabled=true",
            "gateway.auth.type=jupyterhub",
            "gateway.auth.jupyterhub.apiUrl=http://hub:8081/hub/api",
        ),
        (
            "gateway.enabled=true",
            "gateway.auth.type=kerberos",
            "gateway.auth.kerberos.keytabSecret.name=k",
        ),
        ("gateway.enabled=true", "rbac.clusterWide=false"),
    ],
)
def test_helm_lint_strict_with_the_gateway(values: tuple[str, ...]) -> None:
    done = _helm("lint", "--strict", str(CHART), *(a for v in values for a in ("--set", v)))
    assert done.returncode == 0, done.stdout + done.stderr


# -- the config file the pod runs, executed as dask-gateway-server executes it -----------------


def load_config(docs: list[dict[str, Any]], extra_env: dict[str, str]) -> Any:
    """The traitlets Config that the rendered config file produces."""
    pytest.importorskip("dask_gateway_server")
    from traitlets.config import Config

    data = one(docs, "ConfigMap")["data"]
    config = Config()
    saved = dict(os.environ)
    os.environ.update({"DASK_GATEWAY_SETTINGS": data["settings.json"], **extra_env})
    try:
        exec(
            compile(data["dask_gateway_config.py"], "dask_gateway_config.py", "exec"), {"c": config}
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return config


@needs_helm
def test_the_config_file_turns_the_values_into_the_backends_settings() -> None:
    docs = render(
        "gateway.enabled=true",
        "gateway.limits.clustersPerUser=2",
        "gateway.limits.coresPerUser=6",
        "gateway.limits.memoryPerUser=24Gi",
        "gateway.clusterOptions.images={registry.example/dask:1,registry.example/dask:2}",
        "gateway.idleTimeout=600",
    )
    config = load_config(docs, {"DASK_GATEWAY_PASSWORD": "pw"})
    backend, cluster = config.OperatorBackend, config.OperatorClusterConfig
    assert config.DaskGateway.backend_class == "dask_kubernetes.gateway.backend.OperatorBackend"
    assert config.DaskGateway.authenticator_class.endswith("SimpleAuthenticator")
    assert config.SimpleAuthenticator.password == "pw"
    assert backend.namespace == "ops"
    assert backend.api_url == "http://t-dask-kubernetes-operator-gateway.ops:8000/api"
    assert backend.max_clusters_per_user == 2
    assert backend.max_cores_per_user == 6.0
    assert backend.max_memory_per_user == 24 * 2**30
    assert cluster.image_allowlist == ["registry.example/dask:1", "registry.example/dask:2"]
    assert cluster.image == "registry.example/dask:1"
    assert (cluster.worker_cores, cluster.worker_memory) == (1.0, 2 * 2**30)
    assert cluster.idle_timeout == 600.0
    assert config.Proxy.address == config.Proxy.tcp_address == ":8000"


@needs_helm
def test_a_memory_limit_of_zero_is_refused_not_read_as_none() -> None:
    docs = render("gateway.enabled=true", "gateway.limits.memoryPerUser=0Gi")
    with pytest.raises(ValueError, match="memoryPerUser must be more than 0"):
        load_config(docs, {"DASK_GATEWAY_PASSWORD": "pw"})


@needs_helm
def test_a_user_chooses_only_among_the_admins_options() -> None:
    config = load_config(render("gateway.enabled=true"), {"DASK_GATEWAY_PASSWORD": "pw"})
    options = config.Backend.cluster_options
    assert [f.field for f in options.fields] == ["worker_size", "image"]
    chosen = options.get_configuration(options.parse_options({"worker_size": "medium"}), None)
    assert chosen == {
        "worker_cores": 2.0,
        "worker_memory": 8 * 2**30,
        "image": "ghcr.io/dask/dask:latest",
    }
    attempts = [
        {"image": "evil.example/miner:latest"},
        {"worker_size": "huge"},
        {"worker_cores": 64},
        {"environment": {"LD_PRELOAD": "/tmp/x.so"}},
        {"scheduler_cmd": ["sh", "-c", "id"]},
    ]
    for attempt in attempts:
        with pytest.raises((ValueError, TypeError)):
            options.parse_options(attempt)


@needs_helm
def test_the_config_file_sets_each_authenticator() -> None:
    hub = load_config(
        render(
            "gateway.enabled=true",
            "gateway.auth.type=jupyterhub",
            "gateway.auth.jupyterhub.apiUrl=http://hub:8081/hub/api",
        ),
        {},
    )
    assert hub.DaskGateway.authenticator_class.endswith("JupyterHubAuthenticator")
    assert hub.JupyterHubAuthenticator.jupyterhub_api_url == "http://hub:8081/hub/api"
    assert hub.JupyterHubAuthenticator.jupyterhub_service_name == "dask-gateway"
    kerberos = load_config(
        render(
            "gateway.enabled=true",
            "gateway.auth.type=kerberos",
            "gateway.auth.kerberos.keytabSecret.name=k",
        ),
        {"DASK_GATEWAY_KEYTAB": "/etc/dask-gateway/keytab/keytab"},
    )
    assert kerberos.DaskGateway.authenticator_class.endswith("KerberosAuthenticator")
    assert kerberos.KerberosAuthenticator.keytab == "/etc/dask-gateway/keytab/keytab"
    assert kerberos.KerberosAuthenticator.service_name == "HTTP"
