"""Upgrading from upstream's chart: its values file, unchanged, lints and renders here (issue 15).

`upstream_chart_values.yaml` is byte for byte the `values.yaml` of upstream dask-kubernetes
2026.3.0's chart (`dask_kubernetes/operator/deployment/helm/dask-kubernetes-operator/` in its
wheel and in github.com/dask/dask-kubernetes); its sha256 is pinned below so nobody edits it to
make a test pass. Each upstream key either maps to our behaviour or is refused with a message
that says what to use instead.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_operator_helm import CHART, HELM, _helm, _of_kind, _render, empty_stand_in

__all__ = ["empty_stand_in"]  # a fixture the NOTES test installs against

UPSTREAM_VALUES = Path(__file__).with_name("upstream_chart_values.yaml")
UPSTREAM_SHA256 = "e820574b9947a6d711bd29f561a948d403a7ea0a7854cd1365ae2d72415aee86"

pytestmark = pytest.mark.skipif(HELM is None, reason="helm is not installed (linux x86_64 only)")


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    [deployment] = _of_kind(docs, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _refused(*values: str) -> str:
    done = _helm("template", "t", str(CHART), "--namespace", "ops", *values)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    return done.stderr


def test_fixture_is_upstreams_file() -> None:
    assert hashlib.sha256(UPSTREAM_VALUES.read_bytes()).hexdigest() == UPSTREAM_SHA256
    upstream = yaml.safe_load(UPSTREAM_VALUES.read_text())
    # The keys issue 15 lists as rejected by our schema are all in it.
    assert {"kopfArgs", "metrics", "extraEnv", "volumes", "volumeMounts"} <= set(upstream)
    assert {"priorityClassName", "nameOverride", "fullnameOverride", "livenessProbe"} <= set(
        upstream
    )
    assert "workerAllocation" in upstream and "cluster" in upstream["rbac"]
    assert "name" in upstream["image"]


def test_upstream_values_lint_strict() -> None:
    done = _helm("lint", "--strict", str(CHART), "-f", str(UPSTREAM_VALUES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_upstream_values_render_our_operator() -> None:
    docs = _render("-f", str(UPSTREAM_VALUES))
    container = _container(docs)
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    # image.name is upstream's image.repository; "set-by-chartpress" is an unreleased placeholder.
    assert container["image"] == f"ghcr.io/dask/dask-kubernetes-operator:{app_version}"
    # rbac.cluster: true and kopfArgs [--all-namespaces]: cluster-wide, said once.
    assert container["args"].count("--all-namespaces") == 1
    assert _of_kind(docs, "ClusterRole") and not _of_kind(docs, "Role")
    assert container["livenessProbe"]["timeoutSeconds"] == 5
    # Still hardened: upstream's empty podSecurityContext does not undo ours.
    [deployment] = _of_kind(docs, "Deployment")
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_upstream_keys_map_to_our_behaviour() -> None:
    docs = _render(
        *("-f", str(UPSTREAM_VALUES)),
        *("--set", "rbac.cluster=false", "--set", "kopfArgs={--namespace=ops,-v}"),
        *("--set", "image.name=registry.example/op", "--set", "image.tag=1.2.3"),
        *("--set-string", "extraEnv[0].name=EXTRA,extraEnv[0].value=1"),
        *("--set", "volumes[0].name=certs,volumes[0].configMap.name=certs"),
        *("--set", "volumeMounts[0].name=certs,volumeMounts[0].mountPath=/certs"),
        *("--set", "priorityClassName=high", "--set", "fullnameOverride=dko"),
    )
    container = _container(docs)
    [deployment] = _of_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert container["image"] == "registry.example/op:1.2.3"
    assert "--namespace=ops" in container["args"] and "--all-namespaces" not in container["args"]
    assert container["args"].count("--namespace=ops") == 1 and "--verbose" in container["args"]
    [role] = _of_kind(docs, "Role")  # rbac.cluster=false: upstream's way to say namespaced
    assert role["metadata"]["namespace"] == "ops"
    assert {"name": "EXTRA", "value": "1"} in container["env"]
    assert {"name": "certs", "mountPath": "/certs"} in container["volumeMounts"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]  # ours kept
    assert [v["name"] for v in pod["volumes"]] == ["tmp", "certs"]
    assert pod["priorityClassName"] == "high"
    assert deployment["metadata"]["name"] == "dko"


@pytest.mark.slow
def test_notes_say_the_placeholder_tag_became_the_app_version(empty_stand_in: str) -> None:
    """Upstream's values file sets image.tag "set-by-chartpress"; the chart runs its appVersion
    instead, and says so when installing, as it refuses what it cannot map (issue 22)."""
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    image = f"ghcr.io/dask/dask-kubernetes-operator:{app_version}"

    def notes(*values: str) -> str:
        # `helm install --dry-run` prints NOTES.txt (`helm template` leaves it out); it asks a
        # cluster for its version only, and installs nothing.
        install = ("install", "t", str(CHART), "--namespace", "ops", "--dry-run=client")
        done = _helm(*install, *values, env={"KUBECONFIG": empty_stand_in})
        assert done.returncode == 0, done.stderr
        return " ".join(done.stdout.partition("NOTES:")[2].split())

    said = notes("-f", str(UPSTREAM_VALUES))
    assert 'image.tag "set-by-chartpress"' in said
    assert f"replaced by this chart's appVersion {app_version}: the operator runs {image}." in said
    assert "set-by-chartpress" not in notes()  # our own values: nothing was replaced
    assert "set-by-chartpress" not in notes("-f", str(UPSTREAM_VALUES), "--set", "image.tag=1.2")


def test_name_override_renames_objects_and_labels() -> None:
    docs = _render("--set", "nameOverride=ops")
    [deployment] = _of_kind(docs, "Deployment")
    assert deployment["metadata"]["name"] == "t-ops"
    assert deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "ops"


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (("rbac.cluster=false", "kopfArgs={--all-namespaces}"), "rbac.clusterWide=true"),
        (("kopfArgs={--namespace=elsewhere}",), "install a release per namespace"),
        (("kopfArgs={--peering=x}",), "peering.enabled"),
        (("workerAllocation.size=5",), "remove workerAllocation"),
        (("replicas=2",), "set peering.enabled=true, or replicas=1"),
    ],
)
def test_values_we_cannot_honour_are_refused_with_what_to_use(
    values: tuple[str, ...], says: str
) -> None:
    stderr = _refused(*(a for v in values for a in ("--set", v)))
    assert says in stderr, stderr


def test_replicas_with_peering_render() -> None:
    docs = _render("--set", "replicas=2", "--set", "peering.enabled=true")
    [deployment] = _of_kind(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert "strategy" not in deployment["spec"]  # rolling: the peers elect one leader


def test_single_replica_without_peering_never_overlaps_in_a_rollout() -> None:
    [deployment] = _of_kind(_render(), "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_metrics_monitors_render_when_enabled() -> None:
    assert not _of_kind(_render("-f", str(UPSTREAM_VALUES)), "ServiceMonitor")
    docs = _render(
        *("-f", str(UPSTREAM_VALUES)),
        *("--set", "metrics.scheduler.enabled=true"),
        *("--set", "metrics.scheduler.serviceMonitor.enabled=true"),
        *(
            "--set",
            "metrics.worker.enabled=true",
            "--set",
            "metrics.worker.podMonitor.enabled=true",
        ),
        *("--set", "metrics.worker.podMonitor.namespace=monitoring"),
        *("--set", "metrics.scheduler.serviceMonitor.namespaceSelector.any=true"),
    )
    [service_monitor] = _of_kind(docs, "ServiceMonitor")
    [pod_monitor] = _of_kind(docs, "PodMonitor")
    assert service_monitor["apiVersion"] == pod_monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert service_monitor["spec"]["selector"] == {
        "matchLabels": {"dask.org/component": "scheduler"}
    }
    assert service_monitor["spec"]["namespaceSelector"] == {"any": True}
    assert service_monitor["spec"]["endpoints"][0]["port"] == "http-dashboard"
    assert service_monitor["spec"]["targetLabels"] == ["dask.org/cluster-name"]
    assert pod_monitor["metadata"]["namespace"] == "monitoring"
    assert pod_monitor["spec"]["selector"] == {"matchLabels": {"dask.org/component": "worker"}}
    assert pod_monitor["spec"]["namespaceSelector"] == {"matchNames": ["ops"]}
    assert pod_monitor["spec"]["podMetricsEndpoints"][0]["port"] == "http-dashboard"
    assert "dask.org/workergroup-name" in pod_monitor["spec"]["podTargetLabels"]


def test_metrics_monitors_lint() -> None:
    done = _helm(
        *("lint", "--strict", str(CHART), "-f", str(UPSTREAM_VALUES)),
        *("--set", "metrics.scheduler.enabled=true"),
        *("--set", "metrics.scheduler.serviceMonitor.enabled=true"),
        *(
            "--set",
            "metrics.worker.enabled=true",
            "--set",
            "metrics.worker.podMonitor.enabled=true",
        ),
    )
    assert done.returncode == 0, done.stdout + done.stderr
