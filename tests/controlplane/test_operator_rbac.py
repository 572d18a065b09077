"""Our operator on the real kube-apiserver, holding nothing but the chart's RBAC.

The chart's CRDs, ServiceAccount, ClusterRoles and bindings are applied with `helm template |
kubectl apply`; the operator runs (as the operator suite runs it) with a TokenRequest token for
that ServiceAccount. What it does is checked on the objects the real server stores (no node: pods
stay Pending), what it asked is read from the real server's audit log, and what it may not do is
asked of the real RBAC authorizer. One rule removed is refused with 403 and stops convergence;
restored, the cluster converges.

Skips (saying how to build) when the binaries for the committed pins are not in the cache.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kr8s
import pytest
import yaml
from operator_plane import RELEASE_NAMESPACE, OperatorPlane, operator_plane, whoami

from operator_examples import AUTOSCALER, job_example, local_cluster  # isort: skip
from operator_helpers import (  # isort: skip
    DaskAutoscaler,
    DaskCluster,
    DaskJob,
    DaskWorkerGroup,
    live,
    make,
    pods,
    wait_for,
)
from operator_rbac import OPERATOR_AGENTS, granted, used  # isort: skip

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

FILES = Path(__file__).resolve().parents[2] / "charts/dask-kubernetes-operator/files"
#: What the chart grants by default (cluster-wide, no peering), as the recorded-RBAC check reads
#: it (tests/operator/test_operator_rbac_recorded.py).
RULES = (FILES / "rbac-rules.yaml", FILES / "rbac-cluster-rules.yaml")
#: Seconds a convergence may take on this shared 2-core machine.
CONVERGE = 90.0


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorPlane]:
    with operator_plane(tmp_path_factory.mktemp("rbac")) as started:
        yield started
        print("timings:", started.timings)


@pytest.fixture
def ns(setup: OperatorPlane) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    setup.kubectl("create", "namespace", name)
    yield name
    setup.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def kube(setup: OperatorPlane) -> kr8s.Api:
    return setup.api()


@pytest.fixture(autouse=True)
def operator_log_on_failure(setup: OperatorPlane) -> Iterator[None]:
    """Print the operator's log from this test (pytest shows it when the test fails)."""
    start = len(setup.operator.logs()) if setup.operator else 0
    yield
    if setup.operator:
        print(setup.operator.logs()[start:][-20000:])


def _status(obj: Any) -> dict[str, Any]:
    obj.refresh()
    return dict(obj.raw.get("status") or {})


def _workers(kube: kr8s.Api, ns: str, group: str) -> list[Any]:
    found: list[Any] = live(pods(kube, ns, {"dask.org/workergroup-name": group}))
    return found


def _converged(kube: kr8s.Api, ns: str, name: str, replicas: int) -> Callable[[], bool]:
    """Scheduler Pod, Service, default group with `replicas` Pods, and the cluster's status."""

    def check() -> bool:
        scheduler = pods(
            kube, ns, {"dask.org/cluster-name": name, "dask.org/component": "scheduler"}
        )
        services = [s.name for s in kr8s.get("services", namespace=ns, api=kube)]
        status = _status(DaskCluster.get(name, namespace=ns, api=kube))
        return (
            [p.name for p in scheduler] == [f"{name}-scheduler"]
            and services == [f"{name}-scheduler"]
            and len(_workers(kube, ns, f"{name}-default")) == replicas
            and status.get("replicas") == replicas
        )

    return check


# -- who the operator is ---------------------------------------------------------------------


def test_the_operator_holds_only_a_service_account_token(setup: OperatorPlane) -> None:
    assert setup.kubeconfig.stat().st_mode & 0o777 == 0o600
    config = yaml.safe_load(setup.kubeconfig.read_text())
    (user,) = config["users"]
    assert set(user["user"]) == {"token"}  # no client certificate, no admin fallback
    assert whoami(setup) == f"system:serviceaccount:{RELEASE_NAMESPACE}:{setup.service_account}"
    assert setup.operator is not None and setup.operator.alive()


#: (verb, resource) the chart does not grant: the real authorizer says no to each, anywhere.
DENIED = [
    ("get", "secrets"),
    ("list", "secrets"),
    ("watch", "secrets"),
    ("list", "configmaps"),
    ("create", "pods/exec"),
    ("create", "pods/portforward"),
    ("get", "pods/log"),
    ("update", "pods"),
    ("patch", "pods"),
    ("delete", "services"),
    ("patch", "services"),
    ("create", "deployments.apps"),
    ("create", "jobs.batch"),
    ("delete", "daskworkergroups.kubernetes.dask.org"),
    ("delete", "daskjobs.kubernetes.dask.org"),
    ("create", "daskjobs.kubernetes.dask.org"),
    ("update", "daskclusters.kubernetes.dask.org"),
    ("update", "daskclusters.kubernetes.dask.org/status"),
    ("create", "serviceaccounts/token"),
    ("create", "roles.rbac.authorization.k8s.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("bind", "clusterroles.rbac.authorization.k8s.io"),
    ("escalate", "clusterroles.rbac.authorization.k8s.io"),
    ("impersonate", "users"),
    ("impersonate", "serviceaccounts"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("delete", "customresourcedefinitions.apiextensions.k8s.io"),
    ("list", "nodes"),
    ("delete", "namespaces"),
    ("create", "events.events.k8s.io"),
    ("create", "leases.coordination.k8s.io"),
]
#: And a sample of what it does grant, so a "no" above is not an authorizer that says no to all.
ALLOWED = [
    ("create", "pods"),
    ("delete", "pods"),
    ("create", "services"),
    ("create", "secrets"),  # a TLS cluster's (issue #21); never get, list or watch
    ("get", "services/proxy"),
    ("create", "events"),
    ("patch", "daskclusters.kubernetes.dask.org/status"),
    ("create", "daskworkergroups.kubernetes.dask.org"),
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
]


def test_the_service_account_cannot_do_what_the_chart_does_not_grant(
    setup: OperatorPlane,
) -> None:
    for namespace in ("default", RELEASE_NAMESPACE, "kube-system"):
        answers = {
            f"{verb} {resource}": setup.can_i(verb, resource, namespace)
            for verb, resource in DENIED
        }
        granted_anyway = sorted(what for what, answer in answers.items() if answer != "no")
        assert granted_anyway == [], namespace
        allowed = {
            f"{verb} {resource}": setup.can_i(verb, resource, namespace)
            for verb, resource in ALLOWED
        }
        denied = sorted(what for what, answer in allowed.items() if answer != "yes")
        assert denied == [], namespace
    # Not only the review API: the operator's own token is refused by the server.
    refused = setup.kubectl("get", "secrets", "-n", "kube-system", as_operator=True, check=False)
    assert refused.returncode == 1
    assert "Forbidden" in refused.stderr and setup.user in refused.stderr


# -- what it does under exactly those rules ----------------------------------------------------


def test_a_daskcluster_converges_scales_and_is_collected(
    setup: OperatorPlane, kube: kr8s.Api, ns: str
) -> None:
    started = time.monotonic()
    cluster = make(DaskCluster, local_cluster("life", replicas=2), ns, kube)
    wait_for("the cluster's objects", _converged(kube, ns, "life", 2), timeout=CONVERGE)
    setup.timings["DaskCluster converged (2 workers)"] = round(time.monotonic() - started, 2)

    status = _status(cluster)
    assert status["phase"] == "Created"  # no node: the scheduler Pod stays Pending, never Ready
    (condition,) = [c for c in status["conditions"] if c["type"] == "SchedulerReady"]
    assert (condition["status"], condition["reason"]) == ("False", "SchedulerNotReady")
    service = kr8s.objects.Service.get("life-scheduler", namespace=ns, api=kube)
    assert {p["name"] for p in service.spec["ports"]} == {"tcp-comm", "http-dashboard"}
    assert service.metadata["ownerReferences"][0]["kind"] == "DaskCluster"
    for pod in _workers(kube, ns, "life-default"):
        assert pod.status["phase"] == "Pending"
        assert pod.metadata["ownerReferences"][0]["kind"] == "DaskWorkerGroup"
    reasons = {e.raw.get("reason") for e in kr8s.get("events", namespace=ns, api=kube)}
    assert {"SchedulerCreated", "ServiceCreated", "WorkerGroupCreated"} <= reasons
    group = DaskWorkerGroup.get("life-default", namespace=ns, api=kube)
    wait_for("the group's status", lambda: _status(group).get("replicas") == 2)

    # Scaling up: through the cluster's spec, and through a second group of its own.
    started = time.monotonic()
    cluster.patch({"spec": {"worker": {"replicas": 4}}})
    wait_for("4 workers", _converged(kube, ns, "life", 4), timeout=CONVERGE)
    setup.timings["scaled 2 -> 4"] = round(time.monotonic() - started, 2)
    assert group.refresh() or group.spec["worker"]["replicas"] == 4
    extra: dict[str, Any] = {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskWorkerGroup",
        "metadata": {"name": "life-extra"},
        "spec": {"cluster": "life", "worker": copy.deepcopy(cluster.spec["worker"])},
    }
    extra["spec"]["worker"]["replicas"] = 3
    make(DaskWorkerGroup, extra, ns, kube)
    wait_for("the extra group's 3 workers", lambda: len(_workers(kube, ns, "life-extra")) == 3)

    # Deleting the cluster: the garbage collector (kube-controller-manager), not the operator,
    # removes what it owned; the chart grants no delete on services or worker groups.
    cluster.delete()
    wait_for(
        "everything of the cluster to be collected",
        lambda: (
            not pods(kube, ns, {"dask.org/cluster-name": "life"})
            and not list(kr8s.get("services", namespace=ns, api=kube))
            and not list(kr8s.get("daskworkergroups", namespace=ns, api=kube))
        ),
        timeout=CONVERGE,
    )
    asked = {(r.verb, r.rbac_resource) for r in setup.operator_records() if r.namespace == ns}
    assert ("delete", "services") not in asked and ("delete", "daskworkergroups") not in asked


def _report_ready(setup: OperatorPlane, ns: str, pod: str) -> None:
    """Play the kubelet's status report for one Pod (as the admin): Running and Ready."""
    status = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    patch = yaml.safe_dump(status)
    setup.kubectl(
        "patch", "pod", pod, "-n", ns, "--subresource=status", "--type=merge", "-p", patch
    )


def test_a_daskjob_starts_its_runner_when_its_scheduler_is_ready(
    setup: OperatorPlane, kube: kr8s.Api, ns: str
) -> None:
    job = job_example()
    job["metadata"]["name"] = "calc"
    job["spec"]["cluster"] = {"spec": local_cluster("calc", replicas=1)["spec"]}
    make(DaskJob, job, ns, kube)
    wait_for("the job's cluster", _converged(kube, ns, "calc", 1), timeout=CONVERGE)
    selector = {"dask.org/cluster-name": "calc", "dask.org/component": "job-runner"}
    assert not pods(kube, ns, selector), "no runner before its scheduler is ready"
    _report_ready(setup, ns, "calc-scheduler")
    (runner,) = wait_for("the runner Pod", lambda: pods(kube, ns, selector), timeout=CONVERGE)
    assert runner.name == "calc-runner"
    assert runner.metadata["ownerReferences"][0]["kind"] == "DaskJob"
    status = wait_for(
        "the job's status",
        lambda: (
            (s := DaskJob.get("calc", namespace=ns, api=kube).raw.get("status", {})).get(
                "jobRunnerPodName"
            )
            and s
        ),
    )
    assert status["clusterName"] == "calc"
    assert status["jobStatus"] in ("ClusterCreated", "Running")


def test_a_daskautoscaler_is_accepted_and_adopted_by_its_cluster(
    setup: OperatorPlane, kube: kr8s.Api, ns: str
) -> None:
    cluster = make(DaskCluster, local_cluster("auto", replicas=1), ns, kube)
    wait_for("the cluster", _converged(kube, ns, "auto", 1), timeout=CONVERGE)
    autoscaler = copy.deepcopy(AUTOSCALER)
    autoscaler["metadata"]["name"] = "auto"
    autoscaler["spec"]["cluster"] = "auto"
    scaler = make(DaskAutoscaler, autoscaler, ns, kube)

    def adopted() -> bool:
        scaler.refresh()
        owners = scaler.metadata.get("ownerReferences") or []
        return [(o["kind"], o["name"]) for o in owners] == [("DaskCluster", "auto")]

    wait_for("the autoscaler's adoption", adopted, timeout=CONVERGE)
    cluster.delete()
    wait_for("the autoscaler to go with its cluster", lambda: not scaler.exists(), timeout=CONVERGE)


# -- the attacker's test: one rule less -------------------------------------------------------


def _without(documents: list[dict[str, Any]], resource: str, verb: str) -> list[dict[str, Any]]:
    """The chart's objects with `verb` on `resource` taken out of its (Cluster)Role."""
    changed = copy.deepcopy(documents)
    removed = 0
    for doc in changed:
        if doc["kind"] not in ("Role", "ClusterRole"):
            continue
        for rule in doc["rules"]:
            if resource in rule["resources"] and verb in rule["verbs"]:
                if len(rule["resources"]) > 1:  # split the rule: the others keep the verb
                    doc["rules"].append({**rule, "resources": [resource]})
                    rule["resources"] = [r for r in rule["resources"] if r != resource]
                    rule = doc["rules"][-1]
                rule["verbs"] = [v for v in rule["verbs"] if v != verb]
                removed += 1
        doc["rules"] = [rule for rule in doc["rules"] if rule["verbs"]]  # none left: no rule
    assert removed == 1, f"{verb} {resource} is granted by {removed} rules"
    return changed


def test_without_create_on_pods_the_operator_is_refused_and_the_cluster_does_not_converge(
    setup: OperatorPlane, kube: kr8s.Api, ns: str
) -> None:
    setup.apply(_without(setup.documents, "pods", "create"))
    try:
        wait_for(
            "the authorizer to see the change", lambda: setup.can_i("create", "pods", ns) == "no"
        )
        make(DaskCluster, local_cluster("denied", replicas=2), ns, kube)

        def refusals() -> list[Any]:
            return [r for r in setup.operator_refusals() if r.namespace == ns]

        refused = wait_for("a 403 for the operator", refusals, timeout=CONVERGE)
        assert {(r.verb, r.rbac_resource, r.name) for r in refused} == {("create", "pods", "")}
        assert {r.code for r in refused} == {403}
        # It keeps trying, and is refused each time; nothing of the cluster runs meanwhile.
        wait_for("a retry, refused again", lambda: len(refusals()) >= 2, timeout=CONVERGE)
        assert not pods(kube, ns, {"dask.org/cluster-name": "denied"})
        status = DaskCluster.get("denied", namespace=ns, api=kube).raw.get("status") or {}
        assert status.get("phase") != "Running"
        assert setup.operator is not None
        assert "403" in setup.operator.logs()
    finally:
        setup.apply(setup.documents)  # the rule back: kubectl apply replaces the rules
    started = time.monotonic()
    wait_for("the cluster to converge", _converged(kube, ns, "denied", 2), timeout=CONVERGE)
    setup.timings["converged after the rule came back"] = round(time.monotonic() - started, 2)
    assert setup.can_i("create", "pods", ns) == "yes"


def test_without_patch_on_daskclusters_status_the_status_is_refused(
    setup: OperatorPlane, kube: kr8s.Api, ns: str
) -> None:
    setup.apply(_without(setup.documents, "daskclusters/status", "patch"))
    try:
        wait_for(
            "the authorizer to see the change",
            lambda: setup.can_i("patch", "daskclusters.kubernetes.dask.org/status", ns) == "no",
        )
        cluster = make(DaskCluster, local_cluster("mute", replicas=1), ns, kube)

        def refusals() -> set[tuple[str, str, str]]:
            return {
                (r.verb, r.rbac_resource, r.name)
                for r in setup.operator_refusals()
                if r.namespace == ns
            }

        assert wait_for("a 403", refusals, timeout=CONVERGE) == {
            ("patch", "daskclusters/status", "mute")
        }
        assert not _status(cluster).get("phase")  # the pods exist; the status says nothing
    finally:
        setup.apply(setup.documents)
    wait_for(
        "the status to be written",
        lambda: _status(cluster).get("phase") == "Created",
        timeout=CONVERGE,
    )


# -- least privilege, as the real server saw it -------------------------------------------------


def test_what_the_operator_asked_for_is_within_the_charts_rules(setup: OperatorPlane) -> None:
    """Runs last here: every request the other tests made the operator send is in the log."""
    records = setup.operator_records()
    assert records, "the audit log has no request from the operator's ServiceAccount"
    exercised = used(records)
    rules = granted(rule for path in RULES for rule in yaml.safe_load(path.read_text()))
    # The rules applied are the files' rules: the chart renders them unchanged.
    applied = granted(
        rule
        for doc in setup.documents
        if doc["kind"] in ("Role", "ClusterRole")
        for rule in doc["rules"]
    )
    assert applied == rules
    assert exercised <= rules, f"used but not granted: {sorted(exercised - rules)}"
    # Refused only where a test took the rule away.
    # (the test's own `kubectl get secrets` with the operator's token is not the operator)
    refused = {
        (r.api_group, r.rbac_resource, r.verb)
        for r in setup.operator_refusals()
        if r.user_agent.startswith(OPERATOR_AGENTS)
    }
    assert refused <= {
        ("", "pods", "create"),
        ("kubernetes.dask.org", "daskclusters/status", "patch"),
    }
    unused = sorted(rules - exercised)
    setup.timings["operator requests audited"] = len(records)
    print("granted but not used on the real plane:", unused)
    print("timings (s):", setup.timings)
